"""One video source opened through OpenCV: a camera index, a video file, or an http/rtsp URL.

`Capture` wraps `cv2.VideoCapture` and adds what a long-running classifier needs: frames
converted to RGB, a frame number and a grab timestamp on every frame, and reconnection with
backoff when a camera or stream drops. `catdog.runtime.live` builds the frame iterators on it.
OpenCV is the optional `[camera]` extra, so it is imported inside functions only.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from catdog.errors import CatdogError, MissingExtraError

LOGGER = logging.getLogger(__name__)

SourceLike = Union[int, str, os.PathLike]
URL_SCHEMES = ("http", "https", "rtsp", "rtsps", "rtmp", "udp", "tcp")

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
        raise MissingExtraError("OpenCV is not installed: pip install 'catdog[camera]'") from None
    return cv2


@dataclass(frozen=True, eq=False)  # comparing pixel arrays with == is ambiguous, so frames compare by identity
class Frame:
    """One decoded frame: RGB pixels, its number in the source, and when it was grabbed."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    index: int  # 0-based frame number in the source (for live sources: frames grabbed so far)
    captured_at: float  # time.perf_counter() right after the frame was grabbed


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: initial, initial*factor, ... capped at maximum."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 8.0

    def delay(self, attempt: int) -> float:
        """Return the wait in seconds before reconnection attempt number `attempt` (0-based)."""
        return min(self.maximum, self.initial * self.factor ** attempt)


DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class Source:
    """A resolved source: what to hand to VideoCapture, and which kind of source it is."""

    target: Union[int, str]
    kind: str  # "camera", "url" or "file"

    @property
    def live(self) -> bool:
        """Cameras and streams produce frames in real time; files wait for their reader."""
        return self.kind != "file"

    def describe(self) -> str:
        """Name the source for messages, hiding any password in a URL."""
        if self.kind == "camera":
            return f"camera {self.target}"
        if self.kind == "url":
            return f"stream {redact_url(str(self.target))}"
        return f"video file {self.target}"


def redact_url(url: str) -> str:
    """Drop user:password@ from a URL so that credentials never reach logs or error messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def resolve_source(source: SourceLike) -> Source:
    """Classify a camera index (or digits, or a /dev/video* path), a URL, or a video file path."""
    if isinstance(source, bool) or not isinstance(source, (int, str, os.PathLike)):
        raise CatdogError(f"unsupported video source {source!r}: give a camera index, a video file or a URL")
    if isinstance(source, int):
        return Source(target=source, kind="camera")
    if isinstance(source, str):
        text = source.strip()
        if text.isdigit():
            return Source(target=int(text), kind="camera")
        if urlsplit(text).scheme.lower() in URL_SCHEMES:
            return Source(target=text, kind="url")
    path = Path(source).expanduser()
    if path.is_char_device():
        return Source(target=str(path), kind="camera")  # /dev/video0 and friends
    if not path.is_file():
        raise CatdogError(f"video file not found: {path}")
    return Source(target=str(path), kind="file")


def open_device(source: Source) -> Any:
    """Open an OpenCV VideoCapture for a resolved source (it may come back not opened)."""
    cv2 = require_opencv()
    # OpenCV logs a warning per backend it tries; the caller reports one clear line instead.
    previous_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        if source.kind == "url":
            device = cv2.VideoCapture(source.target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
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
        return (f"cannot open camera {source.target}: check that it is connected and not used by "
                "another program (ls /dev/video*), or try another index")
    if source.kind == "url":
        return f"cannot open {source.describe()}: check the address, credentials and network"
    return f"cannot read {source.describe()}: not a video format OpenCV/FFmpeg can decode"


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Convert an OpenCV BGR, BGRA or greyscale frame to (H, W, 3) uint8 RGB."""
    cv2 = require_opencv()
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if pixels.shape[-1] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGB)
    # cv2.cvtColor releases the GIL and writes a contiguous array, unlike pixels[..., ::-1].
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


class Capture:
    """An open video source that grabs frames, converts them to RGB, and reconnects live sources.

    `grab()` and `retrieve()` are called from one reader thread; `close()` may come from any
    thread and makes a pending reconnection wait return at once.
    """

    def __init__(self, source: SourceLike, *, reconnects: int = 5, backoff: Backoff = DEFAULT_BACKOFF,
                 opener: Optional[Callable[[Source], Any]] = None):
        if reconnects < 0:
            raise CatdogError(f"reconnects must be 0 or more, got {reconnects}")
        self.source = resolve_source(source)
        self.reconnects = reconnects
        self.backoff = backoff
        self._opener = opener or open_device
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._failures = 0
        self.index = -1
        self.captured_at = 0.0
        self._device = self._opener(self.source)
        if not self._device.isOpened():
            self._device.release()
            raise CatdogError(open_failure_message(self.source))

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed.is_set()

    @property
    def fps(self) -> float:
        """Frames per second the source reports, or 0.0 when it does not know."""
        value = float(self._device.get(PROP_FPS) or 0.0)
        return value if np.isfinite(value) and value > 0 else 0.0

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) the source reports."""
        return int(self._device.get(PROP_FRAME_WIDTH) or 0), int(self._device.get(PROP_FRAME_HEIGHT) or 0)

    @property
    def frame_count(self) -> Optional[int]:
        """Number of frames in a video file as its header states it, None for live sources."""
        if self.source.live:
            return None
        return int(self._device.get(PROP_FRAME_COUNT) or 0) or None

    def grab(self) -> bool:
        """Grab the next frame without converting it; False at the end of a file or after close().

        A live source that stops delivering is reopened with backoff; after `reconnects`
        failed attempts in a row this raises CatdogError.
        """
        while not self._closed.is_set():
            with self._lock:
                grabbed = not self._closed.is_set() and self._device.grab()
                captured_at = time.perf_counter()
            if grabbed:
                self._failures = 0
                self.index += 1
                self.captured_at = captured_at
                return True
            if not self._recover():
                return False
        return False

    def retrieve(self) -> Optional[Frame]:
        """Decode the frame grabbed last into RGB; None if the source refused to decode it."""
        with self._lock:
            if self._closed.is_set():
                return None
            retrieved, pixels = self._device.retrieve()
        if not retrieved or pixels is None:
            return None
        return Frame(image=to_rgb(pixels), index=self.index, captured_at=self.captured_at)

    def read(self) -> Optional[Frame]:
        """Grab and decode the next frame; None at the end of a file or after close()."""
        while self.grab():
            frame = self.retrieve()
            if frame is not None or not self.source.live:
                return frame
        return None

    def _recover(self) -> bool:
        """Reopen a dropped live source after a backoff delay; False when the source has ended."""
        if not self.source.live or self._closed.is_set():
            return False
        if self._failures >= self.reconnects:
            raise CatdogError(f"lost {self.source.describe()}: no frames after {self.reconnects} "
                              "reconnect attempts; check the connection, or allow more reconnects")
        delay = self.backoff.delay(self._failures)
        self._failures += 1
        LOGGER.warning("lost %s; reconnecting in %.1f s (attempt %d of %d)",
                       self.source.describe(), delay, self._failures, self.reconnects)
        if self._closed.wait(delay):
            return False
        with self._lock:
            self._device.release()
            # A device that fails to open simply fails its next grab, which counts as one more attempt.
            self._device = self._opener(self.source)
        return True

    def close(self, *, timeout: float = 1.0) -> None:
        """Release the device; safe to call twice and from another thread than the reader."""
        self._closed.set()
        # A reader stuck inside a network read holds the lock; it releases nothing until the
        # read times out, so after `timeout` the device is left for the garbage collector.
        if self._lock.acquire(timeout=timeout):
            try:
                self._device.release()
            finally:
                self._lock.release()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_capture(source: SourceLike, *, reconnects: int = 5, backoff: Backoff = DEFAULT_BACKOFF,
                 opener: Optional[Callable[[Source], Any]] = None) -> Capture:
    """Open a camera index, video file or http(s)/rtsp URL; raises CatdogError if it cannot be opened."""
    return Capture(source, reconnects=reconnects, backoff=backoff, opener=opener)
