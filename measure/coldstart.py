"""Load time, first-inference time and peak RSS of one model, each in a fresh child process.

Measuring memory in the benchmark's own process would mix every model's allocations (and
TensorFlow's) into one high-water mark. Instead `measure_cold_start` runs
`python -m catdog.measure.coldstart KIND MODEL` once per model; the child imports the engine,
loads the model, runs one image and one --batch batch, then prints its own VmHWM (the peak
resident set size from /proc/self/status) as JSON. A child that loads nothing ("bare") gives
the floor every child shares: Python, NumPy, Pillow and catdog.
"""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

from catdog.errors import CatdogError

# Engine libraries by suffix, imported (and timed) before the model loads, so load time
# means reading the model rather than importing a shared library.
ENGINE_MODULES = {".tflite": ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"),
                  ".onnx": ("onnxruntime",), ".keras": ("tensorflow",)}
CHILD_TIMEOUT_SECONDS = 600


def read_peak_rss_bytes() -> int:
    """Return this process's peak resident set size in bytes (VmHWM, else getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def import_engine_library(suffix: str) -> None:
    """Import the first available engine library for a model suffix."""
    for name in ENGINE_MODULES.get(suffix, ()):
        try:
            importlib.import_module(name)
            return
        except ImportError:
            continue


def time_since(start: float) -> float:
    """Return the time since `start` (a perf_counter reading) in milliseconds."""
    return (time.perf_counter() - start) * 1000.0


def run_engine(model_path: Path, *, threads: int, batch: int) -> dict[str, Any]:
    """Import, load and run an exported model (or a .keras through open_engine)."""
    from catdog.runtime.engine import open_engine

    start = time.perf_counter()
    import_engine_library(model_path.suffix)
    import_ms = time_since(start)
    start = time.perf_counter()
    engine = open_engine(model_path, threads=threads)
    load_ms = time_since(start)
    height, width = engine.spec.image_size
    images = np.random.default_rng(0).integers(0, 256, size=(batch, height, width, 3), dtype=np.uint8)
    start = time.perf_counter()
    engine.predict(images[:1])
    first_ms = time_since(start)
    engine.predict(images)
    return {"import_ms": import_ms, "load_ms": load_ms, "first_inference_ms": first_ms}


def run_keras(model_path: Path, *, threads: int, batch: int) -> dict[str, Any]:
    """Import TensorFlow, load the Keras source (.keras, .h5, SavedModel), and time the first predict and compiled call."""
    from catdog.measure.keras_baseline import load_keras_baseline

    start = time.perf_counter()
    import_engine_library(".keras")
    import_ms = time_since(start)
    start = time.perf_counter()
    baseline = load_keras_baseline(model_path, threads=threads)
    load_ms = time_since(start)
    calls = baseline.timing_calls(batch=batch)
    predict = calls.get("predict")  # a SavedModel only TensorFlow could load has no model.predict
    start = time.perf_counter()
    if predict is not None:
        predict["one"]()
    predict_first_ms = time_since(start) if predict is not None else None
    start = time.perf_counter()
    calls["compiled"]["one"]()
    compiled_first_ms = time_since(start)
    if predict is not None:
        predict["batch"]()
    calls["compiled"]["batch"]()
    return {"import_ms": import_ms, "load_ms": load_ms, "first_inference_ms": predict_first_ms,
            "compiled_first_inference_ms": compiled_first_ms}


def measure_here(kind: str, model_path: Optional[Path], *, threads: int, batch: int) -> dict[str, Any]:
    """Do one child's work in this process and return its measurements."""
    if kind == "bare":
        import catdog.runtime.preprocess  # noqa: F401  (the floor includes Pillow and catdog)

        result: dict[str, Any] = {}
    elif kind == "keras":
        result = run_keras(model_path, threads=threads, batch=batch)
    else:
        result = run_engine(model_path, threads=threads, batch=batch)
    result["peak_rss_bytes"] = read_peak_rss_bytes()
    return result


def measure_cold_start(kind: str, model_path: Optional[Path] = None, *, threads: int, batch: int) -> dict[str, Any]:
    """Run one fresh child process ("engine", "keras" or "bare") and return its measurements."""
    command = [sys.executable, "-m", "catdog.measure.coldstart", kind, str(model_path or "-"),
               str(threads), str(batch)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_SECONDS)
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        reason = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise CatdogError(f"cold-start child for {model_path or kind} failed: {reason}")
    return json.loads(lines[-1])


def main(arguments: list[str]) -> None:
    """Child entry point: `KIND MODEL THREADS BATCH`; prints one JSON line."""
    kind, model, threads, batch = arguments
    model_path = None if model == "-" else Path(model)
    print(json.dumps(measure_here(kind, model_path, threads=int(threads), batch=int(batch))))


if __name__ == "__main__":
    main(sys.argv[1:])
