"""What the benchmark ran on: CPU model, core count, threads and library versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

import catdog


def read_cpu_model() -> str:
    """Return the CPU's marketing name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine(*, threads: int) -> dict[str, Any]:
    """Return the machine fields every result carries (engine versions are added per row)."""
    return {
        "cpu": read_cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "catdog": catdog.__version__,
        # Other processes compete for the cores; the 1-minute load average says how much.
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
