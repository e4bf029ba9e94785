"""Classify many files fast, and streams frame by frame.

Files are decoded by a thread pool while the main thread runs batched inference: Pillow
releases the GIL while it decodes and resizes, and the engines release it while they run,
so both cores stay busy. Results come out in input order, failed inputs included.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from dataclasses import replace
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from catdog.errors import CatdogError, MissingExtraError
from catdog.runtime.prediction import Prediction, make_error, make_prediction
from catdog.runtime.live_capture import DEFAULT_STREAM_TIMEOUT
from catdog.runtime.preprocess import DEFAULT_MAX_PIXELS, load_image, prepare_array
from catdog.runtime.sources import NothingFound, Stream
from catdog.runtime.spec import ModelSpec
from catdog.runtime.urls import redact_text


def redacted(record: Prediction) -> Prediction:
    """The record with any URL credentials in its error text replaced by `***`."""
    if record.error is None or redact_text(record.error) == record.error:
        return record
    return replace(record, error=redact_text(record.error))


def decode_file(path: Path | NothingFound, spec: ModelSpec, *,
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray | None, BaseException | None, float]:
    """Decode one file, returning (pixels, None, start time) or (None, the error, start time).

    A NothingFound input (an empty folder, a glob with no match) comes back as its error.
    """
    started = time.perf_counter()
    if isinstance(path, NothingFound):
        return None, CatdogError(path.reason), started
    try:
        return load_image(path, spec=spec, max_pixels=max_pixels), None, started
    except Exception as error:  # noqa: BLE001 - every unreadable file becomes one error record
        return None, error, started


def flush_batch(engine, entries: list[tuple[Path | str | None, np.ndarray | None, BaseException | None, float]]
                ) -> list[Prediction]:
    """Run one inference over the decoded entries and return every entry's record, in order.

    Each entry is (source, pixels or None, the decoding error or None, start time); a None
    source (an in-memory image) stays None in its record."""
    arrays = [array for _, array, _, _ in entries if array is not None]
    probabilities = iter(engine.predict(np.stack(arrays)) if arrays else [])
    decided = time.perf_counter()
    records = []
    for path, array, error, started in entries:
        latency_ms = (decided - started) * 1000.0
        source = None if path is None else str(path)
        if array is None:
            records.append(make_error(error, latency_ms=latency_ms, source=source))
        else:
            records.append(make_prediction(next(probabilities), labels=engine.labels, latency_ms=latency_ms,
                                           source=source))
    return records


def decode_files(paths: list[Path], spec: ModelSpec, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[tuple]:
    """Decode a few files in one pool task, so the per-task overhead is shared."""
    return [decode_file(path, spec, max_pixels=max_pixels) for path in paths]


def classify_files(engine, paths: Iterable[Path], *, batch_size: int = 32,
                   workers: int | None = None, chunk_size: int = 4,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[Prediction]:
    """Yield one Prediction per path, in order; decoding overlaps inference, a few batches ahead.

    max_pixels: images of more pixels that cannot be decoded at reduced scale become error
    records (see `catdog.runtime.preprocess.load_image`).
    """
    workers = workers or os.cpu_count() or 2
    window = max(2, (batch_size * 2) // chunk_size + workers * 2)  # chunks in flight
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="catdog-decode")
    pending: deque[tuple[list[Path], Future]] = deque()
    remaining = iter(paths)

    def refill() -> None:
        while len(pending) < window:
            chunk = list(itertools.islice(remaining, chunk_size))
            if not chunk:
                return
            pending.append((chunk, pool.submit(decode_files, chunk, engine.spec, max_pixels)))

    try:
        refill()
        entries = []
        while pending:
            chunk, future = pending.popleft()
            refill()
            entries.extend((path, *decoded) for path, decoded in zip(chunk, future.result()))
            # Batches keep one size, so the interpreter is not re-planned for every call.
            while len(entries) >= batch_size or (entries and not pending):
                yield from flush_batch(engine, entries[:batch_size])
                entries = entries[batch_size:]
    finally:
        # On Ctrl-C or an early stop, queued decodes are dropped instead of finishing first.
        pool.shutdown(wait=False, cancel_futures=True)


def classify_stream(engine, stream: Stream, *, every: int = 1, max_frames: int | None = None,
                    stream_timeout: float = DEFAULT_STREAM_TIMEOUT, tap=None) -> Iterator[Prediction]:
    """Yield one Prediction per frame read from a video, URL or camera; latency is capture-to-decision.

    A camera that cannot be opened is a usage error (CatdogError, exit 2). A video file or URL
    that fails becomes one error record, so the other inputs are still classified; so does
    each unreadable frame of a file (and one record for frames missing at its end).
    A live source that delivers no frame for `stream_timeout` seconds ends with an error record.
    Error texts never show a URL's password. `tap`, if given, wraps the frame iterator
    (`--save` keeps each frame to draw on it).
    """
    from catdog.runtime.live import FrameError, iter_frames

    frames = None
    try:
        frames = iter_frames(stream.source, every=every, max_frames=max_frames, stream_timeout=stream_timeout,
                             yield_errors=True)
        frames = tap(frames) if tap is not None else frames
        for frame in frames:
            if isinstance(frame, FrameError):
                yield make_error(CatdogError(frame.message), source=stream.name, frame=frame.index)
                continue
            pixels = prepare_array(frame.image, spec=engine.spec)
            probability = engine.predict(pixels[None])[0]
            latency_ms = (time.perf_counter() - frame.captured_at) * 1000.0
            yield make_prediction(probability, labels=engine.labels, latency_ms=latency_ms,
                                  source=stream.name, frame=frame.index)
    except CatdogError as error:
        if stream.is_camera or isinstance(error, MissingExtraError):
            raise
        yield redacted(make_error(error, source=stream.name))
    except (OSError, ValueError, RuntimeError) as error:
        if stream.is_camera:
            raise CatdogError(f"{stream.name} failed: {error}") from None
        yield redacted(make_error(error, source=stream.name))
    finally:
        # Stop the reader thread and release the device even when the consumer stops early.
        close = getattr(frames, "close", None)
        if callable(close):
            close()
