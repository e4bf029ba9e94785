"""What the benchmark ran on: CPU model, core count, threads and library versions."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

import catdog
from catdog.runtime.cpu import describe_cpu, read_cpu_model  # noqa: F401 (read_cpu_model: re-exported for benchmarks/)


def describe_machine(*, threads: int) -> dict[str, Any]:
    """Return the machine fields every result carries (engine versions are added per row)."""
    return {
        "cpu": read_cpu_model(),
        # The int8 kernels an engine picks depend on these (see catdog.runtime.cpu).
        "cpu_class": describe_cpu()["class"],
        "cpu_features": describe_cpu()["features"],
        "cores": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "catdog": catdog.__version__,
        # Other processes compete for the cores; the 1-minute load average says how much.
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def idle_percent(seconds: float = 1.0) -> float:
    """Share of all cores left idle by every process during `seconds`, from /proc/stat (100 = a quiet machine)."""
    def sample() -> tuple[int, int]:
        values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return values[3] + values[4], sum(values)
    try:
        idle_before, total_before = sample()
        time.sleep(seconds)
        idle_after, total_after = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return round(100.0 * (idle_after - idle_before) / max(1, total_after - total_before), 1)
