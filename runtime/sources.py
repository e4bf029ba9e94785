"""Turn the command line's SOURCES into inputs: image files (from files, folders and globs) and streams.

Folders are searched recursively with the one file lister (`catdog.runtime.files.list_images`);
globs are expanded in sorted order; video files, stream URLs (`catdog.runtime.urls`) and
cameras become streams that `catdog.runtime.live` reads frame by frame.

Nothing is dropped silently: a path that does not exist stays in the list, so it is reported
as one failed input; a folder with no images, or a glob that matches nothing, becomes a
`NothingFound` input that is reported as one error record ("nothing found ..."); every file a
folder walk passed over is kept in `Found.skipped` with its reason, for the run's summary.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from catdog.runtime.files import list_images
from catdog.runtime.live_picamera import parse_picamera
from catdog.runtime.urls import is_stream_url, redact_url  # noqa: F401 - is_stream_url re-exported

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Stream:
    """A video file, URL, camera index or Raspberry Pi camera (`picam:N`), read frame by frame."""

    source: Union[str, int]

    @property
    def is_camera(self) -> bool:
        """True for a camera index or `picam:N`: a camera that fails is a usage error, not an error record."""
        return isinstance(self.source, int) or parse_picamera(self.source) is not None

    @property
    def name(self) -> str:
        """How the stream is named in results: the path, the URL without credentials, or `camera:N`."""
        return f"camera:{self.source}" if isinstance(self.source, int) else redact_url(str(self.source))


@dataclass(frozen=True)
class NothingFound:
    """A folder with no images or a glob with no matches: reported as one error record, never as success."""

    source: str
    reason: str

    def __str__(self) -> str:
        return self.source

    def __fspath__(self) -> str:
        return self.source


Input = Union[Path, Stream, NothingFound]


@dataclass
class Found:
    """What SOURCES expanded to: the inputs in order, and every file a folder walk skipped, with why."""

    inputs: list[Input] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def list_folder(folder: Path) -> list[Path]:
    """List image files under a folder with the one lister every stage uses (`catdog.runtime.files`)."""
    return list(list_images(folder).paths)


def describe_empty_folder(skipped: int) -> str:
    """Say why a folder gave no inputs."""
    if not skipped:
        return "nothing found: the folder holds no files"
    return (f"nothing found: no image files in this folder ({skipped} other file{'s' if skipped != 1 else ''} "
            "skipped; --verbose names them)")


def add_path(path: Path, found: Found) -> None:
    """Expand one existing or missing path into `found`."""
    if path.is_dir():
        listing = list_images(path)
        found.skipped.extend(listing.skipped)
        if listing.paths:
            found.inputs.extend(listing.paths)
        else:
            found.inputs.append(NothingFound(str(path), describe_empty_folder(len(listing.skipped))))
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        found.inputs.append(Stream(str(path)))
    else:
        found.inputs.append(path)


def find_inputs(sources: list[str], *, camera: int | str | None = None) -> Found:
    """Expand SOURCES (files, folders, globs, videos, URLs) and `--camera N` or `picam:N` into inputs and skips."""
    found = Found()
    expanded = 0  # paths expanded; one path (a single folder) lists each file once, so needs no second pass
    for source in sources:
        if is_stream_url(source):
            found.inputs.append(Stream(source))
        elif GLOB_CHARACTERS & set(source) and not Path(source).exists():
            matches = sorted(glob.glob(os.path.expanduser(source), recursive=True))
            if not matches:
                found.inputs.append(NothingFound(source, "nothing found: no file matches this pattern"))
            for match in matches:
                add_path(Path(match), found)
            expanded += len(matches)
        else:
            add_path(Path(os.path.expanduser(source)), found)
            expanded += 1
    if camera is not None:
        found.inputs.append(Stream(camera))
    if expanded > 1:
        found.inputs = without_repeated_files(found.inputs)
    return found


def without_repeated_files(inputs: list[Input]) -> list[Input]:
    """`inputs` with each file kept once, where SOURCES first named it (`photos/` and `"photos/*.jpg"`
    overlap): one record per photo, as a resumed `--out` job keeps. Streams and misses are kept as given."""
    seen: set[str] = set()
    kept = []
    for item in inputs:
        if isinstance(item, Path):
            key = os.path.abspath(item)
            if key in seen:
                continue
            seen.add(key)
        kept.append(item)
    return kept


def expand_sources(sources: list[str], *, camera: int | str | None = None) -> list[Input]:
    """Expand SOURCES and `--camera N` into an ordered input list (`find_inputs` also returns the skips)."""
    return find_inputs(sources, camera=camera).inputs


def classify_path(path: Path) -> list[Input]:
    """Expand one existing or missing path into inputs."""
    found = Found()
    add_path(path, found)
    return found.inputs
