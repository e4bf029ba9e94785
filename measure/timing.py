"""Timing: percentiles of latency samples, and a round-robin runner that interleaves models.

Timing one model for ten seconds and then the next lets drift (thermal throttling, a
background job, the CPU governor) hit one model and not the other. Here every model runs a
short chunk in turn, round after round, so drift lands on all of them alike.
"""

from __future__ import annotations

import gc
import time
from typing import Callable, Optional

import numpy as np

# A chunk is sized to take about this long, so a round of five models is a fraction of a second.
CHUNK_SECONDS = 0.05
MAX_CHUNK_RUNS = 2000


def summarize(samples: np.ndarray | list[float]) -> dict[str, float]:
    """Return mean, p50, p90 and p99 in milliseconds of latency samples given in seconds."""
    milliseconds = np.asarray(samples, dtype=np.float64) * 1000.0
    if milliseconds.size == 0:
        raise ValueError("no latency samples to summarize")
    p50, p90, p99 = np.percentile(milliseconds, [50, 90, 99])
    return {"mean": float(milliseconds.mean()), "p50": float(p50), "p90": float(p90), "p99": float(p99)}


def time_calls(call: Callable[[], object], *, count: int, samples: list[float]) -> None:
    """Call `call` `count` times, appending each call's duration in seconds to `samples`.

    The loop binds everything to locals so its own cost per run stays at a few hundred
    nanoseconds, small next to a 0.1 ms inference.
    """
    clock = time.perf_counter
    append = samples.append
    for _ in range(count):
        start = clock()
        call()
        append(clock() - start)


def size_next_chunk(samples: list[float], *, min_runs: int, exact: bool) -> int:
    """Size the next chunk from the mean so far, never past --runs when the count is exact."""
    if samples:
        mean = sum(samples[-200:]) / len(samples[-200:])
        size = int(CHUNK_SECONDS / mean) if mean > 0 else MAX_CHUNK_RUNS
    else:
        size = 1
    size = max(1, min(size, MAX_CHUNK_RUNS))
    if exact:
        size = min(size, min_runs - len(samples))
    return size


def measure_progress(samples: list[float], *, min_runs: int, min_seconds: float) -> float:
    """Fraction (0..1) of the way to both the run floor and the time floor."""
    by_runs = len(samples) / min_runs if min_runs > 0 else 1.0
    by_time = sum(samples) / min_seconds if min_seconds > 0 else 1.0
    return min(1.0, by_runs, by_time)


def run_interleaved(
    calls: dict[str, Callable[[], object]],
    *,
    warmup: int,
    min_runs: int,
    min_seconds: float = 0.0,
    on_progress: Optional[Callable[[float], None]] = None,
) -> tuple[dict[str, np.ndarray], bool]:
    """Time every call round-robin until each has `min_runs` runs and `min_seconds` of timed runs.

    With `min_seconds` 0 every call gets exactly `min_runs` runs. Returns the samples in
    seconds per name and whether Ctrl-C stopped the timing early: the samples collected so far
    are kept, so a long run is never lost. The garbage
    collector is paused while timing (as `timeit` does), so a collection triggered by one
    model's garbage does not land in another model's sample.
    """
    exact = min_seconds <= 0
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    pending = list(calls)
    interrupted = False
    collector_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while pending:
            for name in list(pending):
                count = size_next_chunk(samples[name], min_runs=min_runs, exact=exact)
                time_calls(calls[name], count=count, samples=samples[name])
                if measure_progress(samples[name], min_runs=min_runs, min_seconds=min_seconds) >= 1.0:
                    pending.remove(name)
            if on_progress is not None:
                fractions = [measure_progress(values, min_runs=min_runs, min_seconds=min_seconds)
                             for values in samples.values()]
                on_progress(sum(fractions) / len(fractions))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if collector_was_enabled:
            gc.enable()
    timings = {name: np.asarray(values, dtype=np.float64) for name, values in samples.items() if values}
    return timings, interrupted
