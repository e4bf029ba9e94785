"""The speed work's contracts: LiteRT's tensor-view path gives the interpreter's own answers, and measure/floor.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from catdog.measure import floor
from catdog.runtime import models
from catdog.runtime.engine import open_engine

pytest.importorskip("ai_edge_litert")
SHIPPED_TFLITE = models.shipped_model_path("catdog_int8.tflite")


def reference_probabilities(engine, batch: np.ndarray) -> np.ndarray:
    """What set_tensor/invoke/get_tensor give for the same batch on a separate interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(engine.path), num_threads=1)
    details = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(details["index"], list(batch.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(details["index"], batch)
    interpreter.invoke()
    output = interpreter.get_output_details()[0]
    scale, zero_point = output["quantization"]
    return (interpreter.get_tensor(output["index"]).astype(np.float32) - zero_point) * np.float32(scale)


def test_tensor_view_path_matches_the_interpreter_at_every_batch_size():
    engine = open_engine(SHIPPED_TFLITE, threads=1)
    rng = np.random.default_rng(0)
    for size in (1, 5, 32, 1):  # resizing re-plans the tensors: the views must follow
        batch = rng.integers(0, 256, size=(size, *engine.spec.input_shape), dtype=np.uint8)
        expected = reference_probabilities(engine, batch)
        np.testing.assert_array_equal(engine.predict(batch).reshape(len(batch), -1)[:, -1],
                                      expected.reshape(len(batch), -1)[:, -1])


def test_results_do_not_alias_the_interpreter_tensors():
    engine = open_engine(SHIPPED_TFLITE, threads=1)
    rng = np.random.default_rng(1)
    first_batch, second_batch = (rng.integers(0, 256, size=(4, *engine.spec.input_shape), dtype=np.uint8)
                                 for _ in range(2))
    first = engine.predict(first_batch)
    kept = first.copy()
    second = engine.predict(second_batch)
    np.testing.assert_array_equal(first, kept)  # the next call did not overwrite the first answer
    assert not np.array_equal(first, second)
    first_batch[:] = 0  # nor does the engine keep the caller's array
    np.testing.assert_array_equal(engine.predict(second_batch), second)


def test_engine_floor_runs_litert_benchmark_for_tflite_only():
    if not floor.litert_benchmark_available():
        pytest.skip("ai-edge-litert's benchmark tool is not installed")
    if floor.litert_benchmark_blocker():
        pytest.skip(floor.litert_benchmark_blocker())
    result = floor.measure_engine_floor(SHIPPED_TFLITE, threads=1, runs=20, warmup=2)
    assert result is not None and result.median_ms > 0 and result.runs == 20
    assert "litert-benchmark" in result.tool
    assert floor.measure_engine_floor(Path("model.onnx")) is None


def test_engine_floor_is_none_when_the_tool_fails(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model")
    assert floor.measure_engine_floor(broken, runs=5, warmup=1) is None


def test_a_cpu_without_lse_atomics_gets_a_floor_note_instead_of_a_sigill(monkeypatch):
    from catdog.runtime import cpu

    monkeypatch.setattr(cpu, "has_lse_atomics", lambda: False)  # Cortex-A72, the Pi 4
    assert "LSE atomics" in floor.litert_benchmark_blocker()
    assert floor.measure_engine_floor(SHIPPED_TFLITE, runs=5, warmup=1) is None
    rows = [{"format": "tflite", "path": str(SHIPPED_TFLITE)}, {"format": "onnx", "path": "model.onnx"}]
    floor.add_engine_floors(rows, threads=1, runs=5)
    assert rows[0]["engine_floor_ms"] is None and "Cortex-A72" in rows[0]["engine_floor_note"]
    assert "engine_floor_note" not in rows[1]
    monkeypatch.setattr(cpu, "has_lse_atomics", lambda: None)  # x86: nothing known stops it
    assert floor.litert_benchmark_blocker() is None


def test_throughput_and_folder_batch_size():
    engine = open_engine(SHIPPED_TFLITE, threads=1)
    batch = floor.folder_batch_size()
    assert batch >= 1
    result = floor.measure_throughput(engine.predict, image_shape=engine.spec.input_shape, batch_sizes=[1, batch],
                                      min_seconds=0.05, min_batches=2)
    assert set(result) == {1, batch} and all(value > 0 for value in result.values())


def test_bench_hooks_fill_floor_and_folder_throughput_columns():
    from types import SimpleNamespace

    engine = open_engine(SHIPPED_TFLITE, threads=1)
    rows = [{"format": "tflite", "path": str(SHIPPED_TFLITE)}, {"format": "onnx", "path": "model.onnx"}]
    floor.add_engine_floors(rows, threads=1, runs=10)
    assert rows[1]["engine_floor_ms"] is None and rows[1]["engine_floor"] is None
    if floor.litert_benchmark_blocker():  # e.g. Cortex-A72: no LSE atomics, the tool would die with SIGILL
        assert rows[0]["engine_floor_ms"] is None and "LSE atomics" in rows[0]["engine_floor_note"]
    elif floor.litert_benchmark_available():
        assert rows[0]["engine_floor_ms"] > 0 and rows[0]["engine_floor"]["runs"] == 10
        assert "engine_floor_note" not in rows[0]
    contestants = [SimpleNamespace(row={"format": "tflite"}, probabilities=engine.predict, spec=engine.spec),
                   SimpleNamespace(row={"format": "keras"}, probabilities=None, spec=engine.spec)]
    floor.add_folder_throughput(contestants, min_seconds=0.05)
    assert contestants[0].row["folder_batch"] == floor.folder_batch_size()
    assert contestants[0].row["folder_throughput_ips"] > 0
    assert "folder_throughput_ips" not in contestants[1].row
