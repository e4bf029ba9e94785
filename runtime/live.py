"""Frames from video files, cameras and streams, read by a background thread.

For live sources (cameras, URLs) the reader thread keeps only the newest frame, so a slow
classifier skips frames instead of falling behind: latency never grows with a backlog.
Video files are read in order and every frame is offered, as fast as the consumer takes them
(faster than real time); with `live=True` a file is instead replayed at its own frame rate
with newest-only delivery, exactly like a camera. Decoding and the BGR -> RGB conversion
happen in the reader thread, so they overlap with the caller's resizing and inference.

    for frame in iter_frames(0, every=2):          # camera 0, every 2nd frame
        batch = prepare_array(frame.image)[None]   # from catdog.runtime.preprocess
        latency = time.perf_counter() - frame.captured_at
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Optional

import numpy as np

from catdog.errors import CatdogError
from catdog.runtime.live_capture import (
    DEFAULT_BACKOFF, DEFAULT_STREAM_TIMEOUT, Backoff, Capture, Frame, FrameError, Source, SourceLike, open_capture,
    require_opencv,
)
from catdog.runtime.preprocess import prepare_array
from catdog.runtime.spec import ModelSpec

__all__ = ["Backoff", "Capture", "Frame", "FrameError", "FrameStream", "iter_frames", "open_capture", "prepare_frames",
           "require_opencv"]

# Frames a file reader may decode ahead of the consumer: enough to hide decode jitter,
# small enough that 640x480 frames cost about 7 MB.
FILE_READ_AHEAD = 8
# How long blocking waits sleep between checks, so Ctrl-C and close() are noticed promptly.
POLL_SECONDS = 0.1
# Frame rate assumed when a file replayed live does not state one.
FALLBACK_FPS = 30.0


class FrameBuffer:
    """Hands frames from the reader thread to the consumer: a bounded queue or a newest-only slot."""

    def __init__(self, *, capacity: int, keep_newest: bool):
        self._items: deque = deque()
        self._capacity = capacity
        self._keep_newest = keep_newest
        self._condition = threading.Condition()
        self._finished = False
        self._error: Optional[BaseException] = None
        self.closed_event = threading.Event()
        self.dropped = 0  # frames replaced by a newer one before the consumer took them

    def put(self, frame: Frame | FrameError) -> bool:
        """Offer a frame; waits for room unless newest-only. False once the consumer has closed."""
        with self._condition:
            if self._keep_newest and isinstance(frame, Frame):
                # Only frames are replaced by newer ones; a FrameError always reaches the consumer.
                waiting = [item for item in self._items if isinstance(item, Frame)]
                for item in waiting[:max(0, len(waiting) - self._capacity + 1)]:
                    self._items.remove(item)
                    self.dropped += 1
            elif not self._keep_newest:
                while len(self._items) >= self._capacity and not self.closed_event.is_set():
                    self._condition.wait(POLL_SECONDS)
            if self.closed_event.is_set():
                return False
            self._items.append(frame)
            self._condition.notify_all()
            return True

    def finish(self, error: Optional[BaseException] = None) -> None:
        """Mark the end of the source; the consumer gets the remaining frames, then `error` if any."""
        with self._condition:
            self._finished = True
            self._error = error
            self._condition.notify_all()

    def get(self) -> Frame | FrameError | None:
        """Wait for the next frame; None at the end. Re-raises the reader thread's error."""
        with self._condition:
            while not self._items and not self._finished:
                # A timed wait lets KeyboardInterrupt reach the main thread at once.
                self._condition.wait(POLL_SECONDS)
            if self._items:
                frame = self._items.popleft()
                self._condition.notify_all()
                return frame
            if self._error is not None:
                raise self._error
            return None

    def close(self) -> None:
        """Stop accepting frames and wake a waiting reader."""
        with self._condition:
            self.closed_event.set()
            self._items.clear()
            self._condition.notify_all()


def wanted(error: FrameError, every: int) -> bool:
    """Tell whether an unreadable stretch of frames holds a frame that `every` would have used."""
    first_used = -(-error.index // every) * every
    return first_used < error.index + error.frames


def read_frames(capture: Capture, buffer: FrameBuffer, *, every: int, limit: Optional[int],
                frame_interval: float) -> None:
    """Reader thread body: grab, skip, pace, decode and hand over frames until told to stop."""
    try:
        published = 0
        started_at: Optional[float] = None
        while not buffer.closed_event.is_set() and (limit is None or published < limit):
            if frame_interval and started_at is not None:
                # Replaying a file live: frame i becomes available i/fps seconds after frame 0.
                due = started_at + (capture.index + 1) * frame_interval
                if buffer.closed_event.wait(max(0.0, due - time.perf_counter())):
                    break
            grabbed = capture.grab()
            # Damaged frames of a file come out in order, before the next good frame.
            for error in capture.take_errors():
                if wanted(error, every) and (limit is None or published < limit):
                    if not buffer.put(error):
                        return
                    published += 1
            if not grabbed:
                break
            started_at = capture.captured_at if started_at is None else started_at
            if capture.index % every:
                continue  # skipped frames are grabbed but never converted
            frame = capture.retrieve()
            if frame is None:
                continue  # a live source's bad frame is dropped; a file's is now in take_errors()
            if not buffer.put(frame):
                break
            published += 1
        for error in capture.take_errors():  # a frame whose decode failed last
            if wanted(error, every) and (limit is None or published < limit) and buffer.put(error):
                published += 1
        buffer.finish()
    except BaseException as error:  # noqa: BLE001 - handed to the consumer thread, which raises it
        buffer.finish(error)
    finally:
        capture.close()


class FrameStream:
    """An iterator of Frames fed by a reader thread; close() (or leaving a `with`) stops it."""

    def __init__(self, capture: Capture, *, every: int, max_frames: Optional[int], live: bool,
                 yield_errors: bool = False):
        self.capture = capture
        self.live = live
        self.max_frames = max_frames
        self.yield_errors = yield_errors
        self.delivered = 0
        self.unreadable: list[FrameError] = []  # a file's damaged frames, when they are not yielded
        self._buffer = FrameBuffer(capacity=1 if live else FILE_READ_AHEAD, keep_newest=live)
        frame_interval = 0.0
        if live and not capture.live:
            frame_interval = 1.0 / (capture.fps or FALLBACK_FPS)
        # In live mode the consumer decides which frames count, so the reader never stops early.
        limit = None if live else max_frames
        # The thread gets the capture and the buffer, never `self`, so that dropping the last
        # reference to an unfinished stream still garbage-collects it and closes the device.
        self._thread = threading.Thread(
            target=read_frames, args=(capture, self._buffer),
            kwargs={"every": every, "limit": limit, "frame_interval": frame_interval},
            name=f"catdog-capture ({capture.source.describe()})", daemon=True)
        self._started = False

    @property
    def dropped(self) -> int:
        """Frames the reader replaced with a newer one because the consumer was busy."""
        return self._buffer.dropped

    def __iter__(self) -> "FrameStream":
        return self

    def __next__(self) -> Frame | FrameError:
        while True:
            if self.max_frames is not None and self.delivered >= self.max_frames:
                self.close()
                raise StopIteration
            if not self._started:
                self._started = True
                self._thread.start()
            try:
                frame = self._buffer.get()
            except BaseException:
                self.close()
                raise
            if frame is None:
                self.close()
                raise StopIteration
            self.delivered += 1
            if isinstance(frame, FrameError) and not self.yield_errors:
                self.unreadable.append(frame)
                continue
            return frame

    def close(self, *, timeout: float = 2.0) -> None:
        """Stop the reader thread and release the device; safe to call more than once."""
        self._buffer.close()
        self.capture.close()
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """True while the reader thread is alive."""
        return self._thread.is_alive()

    def __enter__(self) -> "FrameStream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close(timeout=0.0)
        except Exception:  # noqa: BLE001 - never raise from a finalizer during shutdown
            pass


def iter_frames(source: SourceLike, *, every: int = 1, max_frames: Optional[int] = None,
                live: Optional[bool] = None, reconnects: int = 5, backoff: Backoff = DEFAULT_BACKOFF,
                opener: Optional[Callable[[Source], Any]] = None, stream_timeout: float = DEFAULT_STREAM_TIMEOUT,
                yield_errors: bool = False) -> FrameStream:
    """Yield RGB Frames from a camera index, video file or URL.

    every: use every Nth frame of the source (frame numbers 0, N, 2N, ...).
    max_frames: stop after this many frames (and, with yield_errors, FrameErrors) have been yielded
        (None: until the source ends).
    live: newest-only delivery; None means cameras and live URLs are live, and files and URLs
        of finite media (a frame count or duration is known) are not.
    reconnects: how many times in a row a dropped camera or stream is reopened before giving up.
    stream_timeout: seconds a live source may deliver no frame before CatdogError.
    yield_errors: also yield a FrameError, in order, for each unreadable frame of a file;
        otherwise those are collected in the stream's `unreadable` list.
    The source is opened now, so a bad source raises CatdogError before the first frame.
    """
    if every < 1:
        raise CatdogError(f"every must be 1 or more, got {every}")
    if max_frames is not None and max_frames < 0:
        raise CatdogError(f"max_frames must be 0 or more, got {max_frames}")
    capture = open_capture(source, reconnects=reconnects, backoff=backoff, opener=opener,
                           stream_timeout=stream_timeout)
    return FrameStream(capture, every=every, max_frames=max_frames, live=capture.live if live is None else live,
                       yield_errors=yield_errors)


def prepare_frames(frames: Iterable[Frame], *, spec: ModelSpec,
                   workers: int = 2) -> Iterator[tuple[Frame, np.ndarray]]:
    """Yield (frame, model input) pairs in source order, resizing up to `workers` frames at once.

    The resize is `prepare_array`, the same Pillow code training used; Pillow releases the GIL
    while it resamples, so a small pool overlaps it with decoding and inference. At most
    `workers` frames wait in the pool, which bounds the latency a live source gains.
    """
    if workers <= 1:
        for frame in frames:
            yield frame, prepare_array(frame.image, spec=spec)
        return
    pending: deque = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="catdog-prepare")
    try:
        for frame in frames:
            pending.append((frame, pool.submit(prepare_array, frame.image, spec=spec)))
            if len(pending) > workers:
                frame, future = pending.popleft()
                yield frame, future.result()
        while pending:
            frame, future = pending.popleft()
            yield frame, future.result()
    finally:
        # On an early stop or Ctrl-C, frames not yet started are dropped rather than resized.
        pool.shutdown(wait=False, cancel_futures=True)
