"""The one file lister: which files under a folder count as images, for every stage of catdog.

`catdog-run` folders, training's class folders, export's calibration and validation folders
and `catdog-bench --data` all list images with `list_images`, so a file is either an image
everywhere or nowhere. The rules:

* recursive, in sorted order (by path components, so results never depend on the file system);
* a file counts when its suffix (any case) is in IMAGE_SUFFIXES;
* hidden files and folders (names starting with "."), such as macOS's `._photo.jpg`
  resource forks and `.git`, are skipped;
* symbolic links to files and folders are followed, each real folder once, so a link loop
  cannot recurse forever.

Every file that is not listed is counted in `Listing.skipped` with its reason, so callers can
say how many files a walk passed over and, when asked, name them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# Formats every supported Pillow (>= 10) decodes, by file suffix: what counts as a photo for
# every stage. Includes the JPEG spellings browsers and cameras write (.jfif, .jpe, .mpo),
# animated PNG and the netpbm family; AVIF and HEIC are left out because they need a plugin.
IMAGE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".mpo", ".png", ".apng", ".bmp", ".dib", ".gif", ".webp",
    ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".tga",
})


@dataclass(frozen=True)
class Listing:
    """The images found under a folder, and every other file passed over with its reason."""

    paths: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...] = field(default=())


def is_hidden(name: str) -> bool:
    """Hidden by Unix convention: `.git`, `.DS_Store`, macOS's `._photo.jpg` resource forks."""
    return name.startswith(".")


def is_image_name(name: str) -> bool:
    """Tell whether a file name has an image suffix (and is not hidden)."""
    return not is_hidden(name) and Path(name).suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> Listing:
    """List the image files under `folder`, recursively and sorted, with the files skipped and why.

    Raises NotADirectoryError if `folder` is not a folder, and FileNotFoundError if it does
    not exist. Unreadable subfolders are recorded as skipped rather than raised.
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"no such folder: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set()

    def walk(directory: Path) -> None:
        try:
            stat = directory.stat()
            if (stat.st_dev, stat.st_ino) in seen:
                skipped.append((directory, "folder already listed (a link loop or a second link)"))
                return
            seen.add((stat.st_dev, stat.st_ino))
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as error:
            skipped.append((directory, f"unreadable folder ({error.strerror or error})"))
            return
        # Depth first in name order, each folder where its name falls: the listing comes out sorted by
        # path components with no sort of its own. Paths are built only for what is kept or skipped
        # (a million photos make a million of them).
        for entry in entries:
            name = entry.name
            if is_hidden(name):
                skipped.append((directory / name, "hidden"))
                continue
            try:
                is_folder = entry.is_dir(follow_symlinks=True)
                is_file = not is_folder and entry.is_file(follow_symlinks=True)
            except OSError as error:
                skipped.append((directory / name, f"unreadable ({error.strerror or error})"))
                continue
            if is_folder:
                walk(directory / name)
            elif not is_file:
                skipped.append((directory / name, "not a regular file (a broken link, socket or device)"))
            elif os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                skipped.append((directory / name, f"not an image suffix ({os.path.splitext(name)[1] or 'none'})"))
            else:
                found.append(directory / name)

    walk(root)
    return Listing(tuple(found), tuple(skipped))
