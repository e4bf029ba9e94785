"""Turn the command line's SOURCES into inputs: image files (from files, folders and globs) and streams.

Folders are searched recursively for image files; globs are expanded in sorted order; video
files, http(s)/rtsp URLs and cameras become streams that `catdog.runtime.live` reads frame by frame.
A path that does not exist stays in the list, so it is reported as one failed input.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from catdog.runtime.files import list_images

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
STREAM_SCHEMES = ("http://", "https://", "rtsp://", "rtsps://", "rtmp://")
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Stream:
    """A video file, URL or camera index, read frame by frame."""

    source: Union[str, int]

    @property
    def name(self) -> str:
        """How the stream is named in results: the path or URL, or `camera:N`."""
        return f"camera:{self.source}" if isinstance(self.source, int) else str(self.source)


Input = Union[Path, Stream]


def is_stream_url(text: str) -> bool:
    """Tell whether a source is a network stream rather than a path."""
    return text.lower().startswith(STREAM_SCHEMES)


def list_folder(folder: Path) -> list[Path]:
    """List image files under a folder with the one lister every stage uses (`catdog.runtime.files`)."""
    return list(list_images(folder).paths)


def classify_path(path: Path) -> list[Input]:
    """Expand one existing or missing path into inputs."""
    if path.is_dir():
        return list(list_folder(path))
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return [Stream(str(path))]
    return [path]


def expand_sources(sources: list[str], *, camera: int | None = None) -> list[Input]:
    """Expand SOURCES (files, folders, globs, videos, URLs) and `--camera N` into an ordered input list."""
    inputs: list[Input] = []
    for source in sources:
        if is_stream_url(source):
            inputs.append(Stream(source))
        elif GLOB_CHARACTERS & set(source) and not Path(source).exists():
            matches = sorted(glob.glob(os.path.expanduser(source), recursive=True))
            if not matches:
                inputs.append(Path(source))  # reported as "no such file", like a missing path
            for match in matches:
                inputs.extend(classify_path(Path(match)))
        else:
            inputs.extend(classify_path(Path(os.path.expanduser(source))))
    if camera is not None:
        inputs.append(Stream(camera))
    return inputs
