"""One video source: a camera index, a Raspberry Pi camera, a video file, or a stream URL.

`Capture` wraps `cv2.VideoCapture`, or Picamera2 behind the same interface (both opened by
`catdog.runtime.live_device`), and adds what a
long-running classifier needs: frames converted to RGB, a frame number and a grab timestamp on
every frame, damaged frames of a file reported instead of ending the read, and reconnection
with backoff, within a time bound, when a camera or stream drops. `catdog.runtime.live` builds
the frame iterators on it. OpenCV is the optional `[camera]` extra, imported inside functions.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional

import numpy as np

from catdog.errors import CatdogError
from catdog.runtime.live_device import (  # noqa: F401 - re-exported: this module was their home
    PROP_FPS, PROP_FRAME_COUNT, PROP_FRAME_HEIGHT, PROP_FRAME_WIDTH, STREAM_TIMEOUT_MS, Source, SourceLike,
    open_device, open_failure_message, require_opencv, resolve_source, to_rgb,
)
from catdog.runtime.urls import redact_url  # noqa: F401 - re-exported for older imports

LOGGER = logging.getLogger(__name__)

# How long a live source may deliver no frame (reads, reconnects and backoff together) before
# catdog gives up on it: `catdog-run --stream-timeout`.
DEFAULT_STREAM_TIMEOUT = 30.0
# Failed grabs in a row that a video file (or finite media over http) may have before its read
# ends: a damaged frame fails one grab and the next frame reads again, while the real end of
# a file fails every grab. Past this bound the rest of the file counts as missing.
MAX_BAD_FRAMES_IN_A_ROW = 25


@dataclass(frozen=True, eq=False)  # comparing pixel arrays with == is ambiguous, so frames compare by identity
class Frame:
    """One decoded frame: RGB pixels, its number in the source, and when it was grabbed."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    index: int  # 0-based frame number in the source (for live sources: frames grabbed so far)
    captured_at: float  # time.perf_counter() right after the frame was grabbed


@dataclass(frozen=True)
class FrameError:
    """A frame of a video file that could not be read: its number and what went wrong, in catdog's words."""

    index: int  # 0-based frame number of the first frame concerned
    message: str
    captured_at: float
    frames: int = 1  # how many frames from `index` on the error covers (a missing end: all of them)


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


class Capture:
    """An open video source that grabs frames, converts them to RGB, and reconnects live sources.

    `grab()` and `retrieve()` are called from one reader thread; `close()` may come from any
    thread and makes a pending reconnection wait return at once.

    A URL whose demuxer reports a frame count (or a duration, from which OpenCV derives one) is
    finite media, such as a video file on a web server: it is read like a file, every frame
    once and in order, and `live` is False. Cameras and URLs without a length are live.

    Files and finite media read past damaged frames: after a failed grab the next grabs are
    tried, up to MAX_BAD_FRAMES_IN_A_ROW, and each frame that failed is listed by
    `take_errors()`. A file whose header promises more frames than could be read gets one
    more FrameError for the missing rest. A live source that delivers nothing for
    `stream_timeout` seconds (reads, reconnects and backoff together) raises CatdogError.
    """

    def __init__(self, source: SourceLike, *, reconnects: int = 5, backoff: Backoff = DEFAULT_BACKOFF,
                 opener: Optional[Callable[[Source], Any]] = None,
                 stream_timeout: float = DEFAULT_STREAM_TIMEOUT):
        if reconnects < 0:
            raise CatdogError(f"reconnects must be 0 or more, got {reconnects}")
        if not stream_timeout > 0:
            raise CatdogError(f"stream timeout must be more than 0 seconds, got {stream_timeout}")
        self.source = resolve_source(source)
        if self.source.kind == "url":
            self.source = replace(self.source, timeout_ms=self.read_timeout_ms(stream_timeout))
        self.reconnects = reconnects
        self.backoff = backoff
        self.stream_timeout = stream_timeout
        self._opener = opener or open_device
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._failures = 0
        self._errors: list[FrameError] = []
        self.index = -1
        self.captured_at = 0.0
        self._device = self._opener(self.source)
        if not self._device.isOpened():
            self._device.release()
            # A Picamera2 device knows why it failed (no such camera, busy); OpenCV does not say.
            raise CatdogError(getattr(self._device, "failure", None) or open_failure_message(self.source))
        self._last_frame_at = time.monotonic()
        self.live = self.source.live and not (self.source.kind == "url" and self._reported_frame_count())

    @staticmethod
    def read_timeout_ms(seconds: float) -> int:
        """OpenCV's open/read timeout for a URL: STREAM_TIMEOUT_MS, or less when the stream timeout is shorter."""
        return max(1, int(min(STREAM_TIMEOUT_MS, seconds * 1000.0)))

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

    def _reported_frame_count(self) -> Optional[int]:
        value = float(self._device.get(PROP_FRAME_COUNT) or 0.0)
        return int(value) if np.isfinite(value) and value >= 1 else None

    @property
    def frame_count(self) -> Optional[int]:
        """Number of frames in a video file or finite URL as its header states it, None for live sources."""
        return None if self.live else self._reported_frame_count()

    def take_errors(self) -> list[FrameError]:
        """Return and forget the frames found unreadable since the last call, oldest first."""
        errors, self._errors = self._errors, []
        return errors

    def _grab_once(self) -> bool:
        with self._lock:
            grabbed = not self._closed.is_set() and self._device.grab()
            self.captured_at = time.perf_counter()
        return bool(grabbed)

    def grab(self) -> bool:
        """Grab the next frame without converting it; False at the end of a file or after close().

        A live source that stops delivering is reopened with backoff; after `reconnects`
        failed attempts in a row, or `stream_timeout` seconds without a frame, this raises
        CatdogError. A file skips over damaged frames (see the class docstring).
        """
        if not self.live:
            return self._grab_file()
        while not self._closed.is_set():
            if self._grab_once():
                self._failures = 0
                self._last_frame_at = time.monotonic()
                self.index += 1
                return True
            if not self._recover():
                return False
        return False

    def _grab_file(self) -> bool:
        failed = 0
        while not self._closed.is_set() and failed <= MAX_BAD_FRAMES_IN_A_ROW:
            if self._grab_once():
                for offset in range(failed):
                    self._errors.append(FrameError(self.index + 1 + offset, "frame could not be read: the video "
                                                   "data is damaged", self.captured_at))
                self.index += failed + 1
                self._last_frame_at = time.monotonic()
                return True
            failed += 1
            if self.source.kind == "url" and time.monotonic() - self._last_frame_at > self.stream_timeout:
                break  # a stalled server: no more waiting for reads that time out one by one
        if self._closed.is_set():
            return False
        expected = self._reported_frame_count()
        if expected is not None and self.index + 1 < expected:
            first = self.index + 1
            self._errors.append(FrameError(first, f"frames {first} to {expected - 1} of {expected} could not be "
                                           "read: the video ends early or is damaged", time.perf_counter(),
                                           frames=expected - first))
            self.index = expected - 1
        return False

    def retrieve(self) -> Optional[Frame]:
        """Decode the frame grabbed last into RGB; None if the source refused to decode it.

        For a file, a frame that fails to decode is also listed by `take_errors()`.
        """
        with self._lock:
            if self._closed.is_set():
                return None
            retrieved, pixels = self._device.retrieve()
        if not retrieved or pixels is None:
            if not self.live:
                self._errors.append(FrameError(self.index, "frame could not be decoded: the video data is damaged",
                                               self.captured_at))
            return None
        return Frame(image=to_rgb(pixels), index=self.index, captured_at=self.captured_at)

    def read(self) -> Optional[Frame]:
        """Grab and decode the next readable frame; None at the end of a file or after close()."""
        while self.grab():
            frame = self.retrieve()
            if frame is not None:
                return frame
        return None

    def _recover(self) -> bool:
        """Reopen a dropped live source after a backoff delay; False when the source has ended."""
        if self._closed.is_set():
            return False
        waited = time.monotonic() - self._last_frame_at
        remaining = self.stream_timeout - waited
        if remaining <= 0:
            raise CatdogError(f"no frames from {self.source.describe()} for {waited:.0f} s: gave up "
                              f"(--stream-timeout {self.stream_timeout:g}); check the connection{self._hint()}")
        if self._failures >= self.reconnects:
            raise CatdogError(f"lost {self.source.describe()}: no frames after {self.reconnects} "
                              f"reconnect attempts; check the connection, or allow more reconnects{self._hint()}")
        # Never sleep past the bound: half of what is left goes to waiting, half to reopening.
        delay = min(self.backoff.delay(self._failures), remaining / 2)
        self._failures += 1
        LOGGER.warning("lost %s; reconnecting in %.1f s (attempt %d of %d)",
                       self.source.describe(), delay, self._failures, self.reconnects)
        if self._closed.wait(delay):
            return False
        source = self.source
        if source.kind == "url":
            # The reopened stream's open and reads must end within what is left of the bound.
            source = replace(source, timeout_ms=self.read_timeout_ms(remaining - delay))
        with self._lock:
            self._device.release()
            # A device that fails to open simply fails its next grab, which counts as one more attempt.
            self._device = self._opener(source)
        return True

    def _hint(self) -> str:
        """A V4L2 camera that opened but never gave a frame may be a Pi's libcamera node: say `--camera picam`."""
        if self.source.kind != "camera" or self.index >= 0:
            return ""
        from catdog.runtime.live_picamera import picamera_hint

        return picamera_hint()

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
                 opener: Optional[Callable[[Source], Any]] = None,
                 stream_timeout: float = DEFAULT_STREAM_TIMEOUT) -> Capture:
    """Open a camera index, video file or stream URL; raises CatdogError if it cannot be opened.

    stream_timeout: seconds a live source may deliver no frame before CatdogError (see Capture).
    """
    return Capture(source, reconnects=reconnects, backoff=backoff, opener=opener, stream_timeout=stream_timeout)
