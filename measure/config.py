"""The benchmark's settings: one frozen dataclass whose fields map 1:1 to `catdog-bench` flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

# Without --runs, every model is timed until it has at least this many batch-1 runs AND at
# least this many seconds of timed runs: fast models get thousands of samples for stable
# tail percentiles, slow ones (Keras predict) still get enough for a meaningful p99.
DEFAULT_MIN_RUNS = 200
DEFAULT_MIN_SECONDS = 2.0


@dataclass(frozen=True)
class BenchConfig:
    """What to time and how; `None` means "use the default" where the flag says so."""

    models: tuple[Path, ...] = ()  # empty: every shipped TFLite/ONNX model
    baseline: Optional[Path] = None  # None: the shipped catdog.keras
    data: Optional[Path] = None  # class-named subfolders, for accuracy and agreement
    runs: Optional[int] = None  # None: adaptive (DEFAULT_MIN_RUNS and DEFAULT_MIN_SECONDS)
    warmup: int = 20
    threads: int = 1
    batch: int = 32
    json: Optional[Path] = None
    markdown: Optional[Path] = None
    plot: Optional[Path] = None

    @property
    def min_runs(self) -> int:
        """Batch-1 runs each model must reach: exactly --runs, or the adaptive minimum."""
        return self.runs if self.runs is not None else DEFAULT_MIN_RUNS

    @property
    def min_seconds(self) -> float:
        """Seconds of timed runs each model must reach; an explicit --runs drops this floor."""
        return 0.0 if self.runs is not None else DEFAULT_MIN_SECONDS

    @property
    def batch_runs(self) -> int:
        """Timed runs at --batch for throughput: a tenth of the batch-1 runs, at least 5."""
        return max(5, self.min_runs // 10)

    @property
    def batch_seconds(self) -> float:
        """Seconds of timed runs at --batch: half the batch-1 floor (throughput is a mean, less noisy)."""
        return self.min_seconds / 2
