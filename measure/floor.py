"""The engine's own floor: what the inference library's own benchmark tool gets on the same file.

catdog's p50 means little without the number the engine reaches with no catdog code around it.
For a .tflite file that is `litert-benchmark` (installed with ai-edge-litert: the console script,
or `python -m ai_edge_litert.tools.benchmark_litert_model`), which times
`CompiledModel.run_by_name` on preallocated buffers filled with random data. `measure_engine_floor`
runs it in a child process, so its threads and caches do not mix with the caller's, and returns
its median.

Also here: `folder_batch_size()`, the batch size `catdog-run` really uses for folders, and
`measure_throughput`, images per second of an engine at given batch sizes.

    floor = measure_engine_floor(Path("model.tflite"), threads=1)
    if floor is not None:
        print(f"catdog p50 {p50:.3f} ms, engine floor {floor.median_ms:.2f} ms ({floor.tool})")
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

LITERT_TOOL_MODULE = "ai_edge_litert.tools.benchmark_litert_model"
FLOOR_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class EngineFloor:
    """The engine tool's own latency for one model file.

    median_ms: the tool's median in milliseconds, as it reports it (litert-benchmark rounds to
        0.01 ms, so a 0.10 ms median may be anything from 0.095 to 0.105).
    runs, threads: timed runs and CPU threads the tool used.
    tool: the tool's name and its package version, e.g. "litert-benchmark (ai-edge-litert 2.3.0)".
    """

    median_ms: float
    runs: int
    threads: int
    tool: str

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def litert_benchmark_available() -> bool:
    """True when ai-edge-litert's benchmark tool can be imported (no TensorFlow needed)."""
    try:
        return importlib.util.find_spec(LITERT_TOOL_MODULE) is not None
    except ModuleNotFoundError:
        return False


LSE_NOTE = ("floor ms: - on this CPU: LiteRT's benchmark binary (litert-benchmark) needs ARMv8.1 LSE atomics, "
            "absent on Cortex-A72 (Raspberry Pi 4); it dies with SIGILL there")


def litert_benchmark_blocker() -> Optional[str]:
    """Why litert-benchmark cannot run on this CPU (one line), or None when nothing known stops it.

    ai-edge-litert's aarch64 benchmark binary is compiled with LSE atomics: on a core without them
    (Cortex-A72, the Pi 4) it dies with SIGILL (exit 132) while loading its accelerator library.
    """
    from catdog.runtime.cpu import has_lse_atomics

    return LSE_NOTE if has_lse_atomics() is False else None


def measure_engine_floor(model_path: Path, *, threads: int = 1, runs: int = 2000,
                         warmup: int = 100) -> Optional[EngineFloor]:
    """Run `litert-benchmark` on a .tflite file and return its median; None when it cannot.

    None means: not a .tflite file, ai-edge-litert's tool is not installed, it cannot run on this CPU
    (`litert_benchmark_blocker()`), or the tool failed (its exit code and output are not the caller's
    problem: the floor is an extra column).
    Takes about runs x latency plus ~1 s of start-up. Never raises for a missing tool.
    """
    model_path = Path(model_path)
    if model_path.suffix.lower() != ".tflite" or not litert_benchmark_available() or litert_benchmark_blocker():
        return None
    with tempfile.TemporaryDirectory(prefix="catdog-floor-") as folder:
        result_path = Path(folder) / "result.json"
        command = [sys.executable, "-m", LITERT_TOOL_MODULE, f"--model={model_path}", f"--num_runs={runs}",
                   f"--warmup_runs={warmup}", f"--num_threads={threads}", f"--result_json={result_path}"]
        try:
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=FLOOR_TIMEOUT_SECONDS, check=True)
            latency = json.loads(result_path.read_text())["latency"]
        except (OSError, ValueError, KeyError, subprocess.SubprocessError):
            return None
    try:
        version = importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return EngineFloor(median_ms=float(latency["median_ms"]), runs=int(latency["num_runs"]), threads=threads,
                       tool=f"litert-benchmark (ai-edge-litert {version})")


def folder_batch_size() -> int:
    """The batch size `catdog-run` uses for files and folders unless --batch-size says otherwise."""
    from catdog.runtime.runner import RunConfig

    return RunConfig().batch_size


def measure_throughput(predict: Callable[[np.ndarray], object], *, image_shape: Sequence[int],
                       batch_sizes: Sequence[int], min_seconds: float = 1.0, min_batches: int = 5) -> dict[int, float]:
    """Images per second of `predict` on random uint8 batches, for each batch size.

    Each batch size gets one untimed warm-up call (an interpreter re-plans on a new size), then
    at least `min_batches` calls and `min_seconds` of them. Returns {batch size: images/s}.
    """
    rng = np.random.default_rng(0)
    results = {}
    for batch_size in dict.fromkeys(batch_sizes):  # once per distinct size, in order
        batch = rng.integers(0, 256, size=(batch_size, *image_shape), dtype=np.uint8)
        predict(batch)
        calls, started = 0, time.perf_counter()
        while calls < min_batches or time.perf_counter() - started < min_seconds:
            predict(batch)
            calls += 1
        results[batch_size] = batch_size * calls / (time.perf_counter() - started)
    return results


def add_engine_floors(rows: list[dict], *, threads: int, runs: int = 2000) -> None:
    """Set `engine_floor_ms` (the tool's median, or None) and `engine_floor` (its details) on every row.

    Only .tflite rows get a number today; ONNX and Keras rows get None. When the tool cannot run on
    this CPU, .tflite rows also get `engine_floor_note`, the one line saying why.
    """
    blocker = litert_benchmark_blocker()
    for row in rows:
        floor = measure_engine_floor(Path(row["path"]), threads=threads, runs=runs) if row.get("format") == "tflite" else None
        row["engine_floor_ms"] = None if floor is None else floor.median_ms
        row["engine_floor"] = None if floor is None else floor.to_dict()
        if row.get("format") == "tflite" and blocker:
            row["engine_floor_note"] = blocker


def add_folder_throughput(contestants: list, *, min_seconds: float = 0.5) -> None:
    """Set `folder_batch` and `folder_throughput_ips` on every exported model's row (not Keras rows).

    `contestants` are `catdog.measure.runner.Contestant`s: their `probabilities` is the engine's
    `predict` and their `spec` gives the image shape.
    """
    batch = folder_batch_size()
    for contestant in contestants:
        if contestant.row.get("format") == "keras":
            continue
        images_per_second = measure_throughput(contestant.probabilities, image_shape=contestant.spec.input_shape,
                                               batch_sizes=[batch], min_seconds=min_seconds)[batch]
        contestant.row.update(folder_batch=batch, folder_throughput_ips=images_per_second)
