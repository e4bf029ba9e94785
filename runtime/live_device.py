"""The device side of a video source: what a source is (camera, Pi camera, URL or file) and how it is opened.

`resolve_source` sorts a camera index, `picam[:N]` (a Raspberry Pi CSI camera), a stream URL
(`catdog.runtime.urls`, the one list of schemes) or a video file path; `open_device` opens it
with `cv2.VideoCapture` and the network timeouts a URL needs, or, for `picam`, with Picamera2
behind the same interface (`catdog.runtime.live_picamera`). `catdog.runtime.live_capture.Capture`
builds grabbing and reconnection on top. OpenCV is the optional `[camera]` extra and Picamera2 an
apt package, so both are imported inside functions only.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from catdog.errors import CatdogError, MissingExtraError
from catdog.runtime.urls import is_stream_url, redact_url

SourceLike = Union[int, str, os.PathLike]

# OpenCV's property ids, spelled out so that fake devices in tests work without cv2 constants.
PROP_FRAME_WIDTH = 3
PROP_FRAME_HEIGHT = 4
PROP_FPS = 5
PROP_FRAME_COUNT = 7

# A network open or read that hangs would make Ctrl-C and reconnection wait forever.
STREAM_TIMEOUT_MS = 10_000


def require_opencv():
    """Import and return cv2, or raise one line naming the extra to install."""
    try:
        import cv2
    except ImportError:
        from catdog.runtime.live_picamera import on_raspberry_pi

        if on_raspberry_pi():  # pip's OpenCV wheel needs NumPy 2, which breaks the OS's Picamera2
            raise MissingExtraError("OpenCV is not installed: sudo apt install python3-opencv (on Raspberry Pi "
                                    "OS, rather than catdog[camera]: see docs/raspberry-pi.md)") from None
        raise MissingExtraError("OpenCV is not installed: pip install 'catdog[camera]'") from None
    return cv2


@dataclass(frozen=True)
class Source:
    """A resolved source: what to hand to VideoCapture, and which kind of source it is."""

    target: Union[int, str]
    kind: str  # "camera" (OpenCV/V4L2), "picam" (Picamera2; target is the camera number), "url" or "file"
    timeout_ms: int = STREAM_TIMEOUT_MS  # OpenCV's open and read timeouts for a URL

    @property
    def live(self) -> bool:
        """Cameras and URLs may be live; `Capture.live` decides once a URL reports a length (finite media)."""
        return self.kind != "file"

    def describe(self) -> str:
        """Name the source for messages, hiding any password in a URL."""
        if self.kind == "camera":
            return f"camera {self.target}"
        if self.kind == "picam":
            return f"Raspberry Pi camera picam:{self.target}"
        if self.kind == "url":
            return f"stream {redact_url(str(self.target))}"
        return f"video file {self.target}"


def resolve_source(source: SourceLike) -> Source:
    """Classify a camera index (or digits, or a /dev/video* path), `picam[:N]`, a URL, or a video file path."""
    from catdog.runtime.live_picamera import parse_picamera

    if isinstance(source, bool) or not isinstance(source, (int, str, os.PathLike)):
        raise CatdogError(f"unsupported video source {source!r}: give a camera index, a video file or a URL")
    if isinstance(source, int):
        return Source(target=source, kind="camera")
    if isinstance(source, str):
        text = source.strip()
        if text.isdigit():
            return Source(target=int(text), kind="camera")
        if parse_picamera(text) is not None:
            return Source(target=parse_picamera(text), kind="picam")
        if is_stream_url(text):
            return Source(target=text, kind="url")
    path = Path(source).expanduser()
    if path.is_char_device():
        return Source(target=str(path), kind="camera")  # /dev/video0 and friends
    if not path.is_file():
        raise CatdogError(f"video file not found: {path}")
    return Source(target=str(path), kind="file")


def open_device(source: Source) -> Any:
    """Open an OpenCV VideoCapture (or, for `picam`, a PicameraDevice) for a resolved source.

    The device may come back not opened.
    """
    if source.kind == "picam":
        from catdog.runtime.live_picamera import open_picamera

        return open_picamera(int(source.target))
    cv2 = require_opencv()
    # OpenCV logs a warning per backend it tries; the caller reports one clear line instead.
    previous_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        if source.kind == "url":
            device = cv2.VideoCapture(source.target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, source.timeout_ms,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, source.timeout_ms,
            ])
        else:
            device = cv2.VideoCapture(source.target)
        if source.kind == "camera" and device.isOpened():
            # Ask the driver to hold one frame, so its own queue adds no latency either.
            device.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    finally:
        cv2.utils.logging.setLogLevel(previous_level)
    return device


def open_failure_message(source: Source) -> str:
    """Say which source could not be opened, with the most likely fix."""
    if source.kind == "camera":
        from catdog.runtime.live_picamera import picamera_hint

        hint = picamera_hint()
        if hint:  # a Pi whose camera is a libcamera one: the likely fix is the other path
            return f"cannot open camera {source.target} as a V4L2 device{hint}"
        return (f"cannot open camera {source.target}: check that it is connected and not used by "
                "another program (ls /dev/video*), or try another index")
    if source.kind == "picam":
        return f"cannot open {source.describe()}"
    if source.kind == "url":
        return f"cannot open {source.describe()}: check the address, credentials and network"
    return f"cannot read {source.describe()}: not a video format OpenCV/FFmpeg can decode"


@functools.lru_cache(maxsize=1)
def optional_opencv():
    """cv2 if installed, else None (a Pi camera needs no OpenCV); looked up once."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Convert a BGR, BGRA or greyscale frame to (H, W, 3) uint8 RGB.

    BGR and BGRA are OpenCV's layouts, and also the memory order of Picamera2's "RGB888" and
    "XRGB8888" arrays (see catdog.runtime.live_picamera).
    """
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    cv2 = optional_opencv()
    if cv2 is None:
        # Pillow's C unpackers swap channels several times faster than a strided numpy copy
        # (an ad hoc timeit of 640x480 frames on the dev machine); the result is read-only.
        from PIL import Image

        height, width = pixels.shape[:2]
        raw_mode = "L" if pixels.ndim == 2 else ("BGRX" if pixels.shape[-1] == 4 else "BGR")
        image = Image.frombuffer("L" if pixels.ndim == 2 else "RGB", (width, height),
                                 np.ascontiguousarray(pixels), "raw", raw_mode, 0, 1)
        return np.asarray(image if pixels.ndim == 3 else image.convert("RGB"))
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if pixels.shape[-1] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    # cv2.cvtColor releases the GIL and writes a contiguous array, unlike pixels[..., ::-1].
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
