"""How shipped files name the folders and files they came from, without the machine's paths.

A card or a model file travels to devices and to other people, so it must not reveal the
trainer's directory layout or user name. A path the user typed relative to the working
directory is kept as typed; an absolute path inside the working directory is recorded relative
to it; any other absolute path is recorded as its last component only. A folder of images also gets its image count and a content hash,
so two cards can be compared for "same data" without either path.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

def describe_path(path: str | os.PathLike | None, *, base: str | os.PathLike | None = None) -> str | None:
    """A path as a shipped file may record it: never absolute, never the machine's layout.

    A relative path is kept as the user typed it (it is already relative to the working
    directory). An absolute path inside `base` (default: the working directory) becomes
    relative to it; any other absolute path becomes its last component only. None stays None,
    and a label such as "shipped:catdog.keras" is returned unchanged.
    """
    if path is None:
        return None
    text = os.fspath(path)
    if text.startswith("shipped:"):
        return text
    given = Path(text).expanduser()
    if not given.is_absolute():
        return Path(os.path.normpath(given)).as_posix()
    root = Path(base if base is not None else os.getcwd()).resolve()
    try:
        return given.resolve().relative_to(root).as_posix() or "."
    except ValueError:
        return given.resolve().name or "."


def describe_command(command: str, *, base: str | os.PathLike | None = None) -> str:
    """A command line as a shipped file may record it: each absolute path in it through `describe_path`.

    `catdog-train --data /home/ann/photos --out=/home/ann/runs/x` -> `catdog-train --data photos --out=x`
    (from outside those folders); relative paths and every other word are kept as typed.
    """
    import shlex

    def clean(word: str) -> str:
        option, equals, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if value.startswith(("/", "~")):
            return f"{option}{equals}{describe_path(value, base=base)}"
        return word

    return shlex.join(clean(word) for word in shlex.split(command))


def hash_folder(folder: str | os.PathLike) -> tuple[int, str]:
    """(number of images, SHA-256 over their relative paths and contents) of `folder`.

    Images are those the runtime's one file lister finds; the hash does not depend on where the
    folder lives, only on what it holds.
    """
    from catdog.runtime.files import list_images

    root = Path(folder)
    images = list_images(root).paths
    digest = hashlib.sha256()
    for path in images:
        digest.update(Path(path).relative_to(root).as_posix().encode() + b"\0")
        _update(digest, Path(path))
        digest.update(b"\0")
    return len(images), digest.hexdigest()


def describe_folder(folder: str | os.PathLike, *, base: str | os.PathLike | None = None) -> dict:
    """{"path": describe_path(folder), "images": N, "sha256": ...}: a folder of images, machine-free."""
    record: dict = {"path": describe_path(folder, base=base)}
    if Path(folder).is_dir():
        record["images"], record["sha256"] = hash_folder(folder)
    return record


def content_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, or of a folder's files (relative names and contents, sorted)."""
    path = Path(path)
    files = sorted(item for item in path.rglob("*") if item.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for item in files:
        if path.is_dir():
            digest.update(item.relative_to(path).as_posix().encode("utf-8") + b"\0")
        _update(digest, item)
    return digest.hexdigest()


def _update(digest, path: Path) -> None:
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
