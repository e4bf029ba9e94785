"""Ladder latency stand-in: batch-1 p50 of each rung as an fp32 TFLite file, 1 thread.

Until `catdog-export` accepts other input sizes (the export branch), the rungs cannot be
exported int8 and timed with `catdog-bench`; this converts each Keras model to fp32 TFLite in
memory and times LiteRT on it, which gives the rungs' relative cost.

    python benchmarks/ladder_latency.py runtime/models/catdog.keras runtime/models/catdog96/model.keras

Prints one Markdown row per model: its input size and batch-1 p50 and p90 in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from catdog.bench.machine import read_cpu_model

    print(f"{read_cpu_model()}, {os.cpu_count()} cores; LiteRT fp32, 1 thread, batch 1, {args.runs} runs after 50 warm-up")
    print("| model | input | p50 ms | p90 ms |\n|---|---|---:|---:|")
    for path in args.models:
        model = keras.models.load_model(path, compile=False)
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
        interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
        interpreter.allocate_tensors()
        entry = interpreter.get_input_details()[0]
        image = np.random.default_rng(0).uniform(0, 255, entry["shape"]).astype(np.float32)
        times = []
        for index in range(args.runs + 50):
            started = time.perf_counter()
            interpreter.set_tensor(entry["index"], image)
            interpreter.invoke()
            if index >= 50:
                times.append((time.perf_counter() - started) * 1000)
        times.sort()
        size = "x".join(str(side) for side in entry["shape"][1:3])
        print(f"| {path} | {size} | {statistics.median(times):.3f} | {times[int(0.9 * len(times))]:.3f} |")


if __name__ == "__main__":
    main()
