"""Output folders and files: prove a folder can be written before long work starts; write files atomically.

Training, export and `catdog-run --out` check their output folder this way up front, so a
read-only or missing parent fails in one line at once rather than after minutes of work.
`write_atomically` is the one way catdog replaces a file: write a temporary name, then rename,
so a kill at any moment leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from catdog.errors import CatdogError


def ensure_writable(folder: Path) -> None:
    """Create `folder` (and its parents) if needed and write and delete a probe file in it.

    Raises CatdogError (one line, exit 2) naming the folder, the system's reason and the fix.
    """
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".catdog-write-test-"):
            pass
    except OSError as error:
        raise CatdogError(f"cannot write to output folder {folder} ({error.strerror or error}): "
                          "pass --out with a writable folder") from None


def write_atomically(path: Path, write) -> None:
    """Call `write(temporary_path)`, then rename it over `path` in one step."""
    path = Path(path)
    # Keras picks the format from the suffix, so the temporary name keeps it.
    suffix = "".join(path.suffixes)
    temporary = path.with_name(f".{path.name[: -len(suffix)] if suffix else path.name}.partial{suffix}")
    write(temporary)
    os.replace(temporary, path)


def write_text_atomically(path: Path, text: str) -> None:
    """Write a text file with `write_atomically`."""
    write_atomically(path, lambda temporary: Path(temporary).write_text(text))
