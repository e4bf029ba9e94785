"""Output folders: create one and prove it can be written before any long work starts.

Training and export both check their `--out` this way up front, so a read-only or missing
parent fails in one line at once rather than after minutes of training or conversion.
"""

from __future__ import annotations

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
