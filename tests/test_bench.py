"""Tests for catdog-bench: percentiles, the interleaved runner, and a fast end-to-end run on a tiny ONNX model."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.bench import report, runner
from catdog.bench.cli import main
from catdog.bench.timing import size_next_chunk, measure_progress, run_interleaved, summarize
from catdog.errors import MissingExtraError

ROW_KEYS = {"model", "format", "precision", "size_bytes", "latency_ms", "throughput_ips", "accuracy",
            "agreement", "speedup_vs_keras"}


def write_tiny_onnx(path: Path) -> Path:
    """Write a (N, 64, 64, 3) uint8 -> (N, 1) float32 ONNX model: sigmoid of (blue - red) mean.

    It carries a "catdog" metadata_props entry, as exported models do.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from catdog.runtime.spec import ModelSpec

    weights = np.zeros((1, 1, 1, 3), dtype=np.float32)
    weights[..., 0], weights[..., 2] = -0.05, 0.05
    nodes = [helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["pixels", "weights"], ["weighted"]),
             helper.make_node("ReduceMean", ["weighted"], ["score"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["score", "axis"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["probability"])]
    graph = helper.make_graph(
        nodes, "tiny_catdog",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", 64, 64, 3])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        initializer=[helper.make_tensor("weights", TensorProto.FLOAT, [1, 1, 1, 3], weights.reshape(-1).tolist()),
                     helper.make_tensor("axis", TensorProto.INT64, [1], [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    metadata = {"schema": 2, "labels": ["cat", "dog"], "model_spec": ModelSpec(image_size=(64, 64), labels=("cat", "dog")).to_dict(),
                "format": "onnx", "precision": "fp32",
                "input": {"name": "image", "dtype": "uint8", "shape": [None, 64, 64, 3], "layout": "NHWC",
                          "quantization": None},
                "output": {"meaning": "probability of labels[1]", "dtype": "float32", "quantization": None}}
    entry = model.metadata_props.add()
    entry.key, entry.value = "catdog", json.dumps(metadata)
    onnx.save(model, path)
    return path


def write_photos(root: Path, *, per_class: int = 4) -> Path:
    """Write reddish cats and bluish dogs, which the tiny model tells apart."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("cats", "dogs")):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 60, size=(48, 56, 3))
            pixels[..., 2 if label else 0] += 180
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{index}.jpg", quality=95)
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture
def no_tensorflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A baseline file that exists, with a loader that behaves as if TensorFlow were missing."""
    def missing(path, *, threads):
        raise MissingExtraError("TensorFlow is not installed (simulated): pip install 'catdog[train]'")

    monkeypatch.setattr(runner, "load_keras_baseline", missing)
    baseline = tmp_path / "baseline.keras"
    baseline.write_bytes(b"not a real model")
    return baseline


def test_help_lists_every_flag():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for flag in ("--baseline", "--data", "--runs", "--warmup", "--threads", "--batch", "--json", "--markdown",
                 "--plot", "--verbose"):
        assert flag in result.output


def test_summarize_gives_milliseconds_and_linear_percentiles():
    samples = np.arange(1, 101) / 1000.0  # 1..100 ms
    summary = summarize(samples)
    assert summary["mean"] == pytest.approx(50.5)
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p90"] == pytest.approx(90.1)
    assert summary["p99"] == pytest.approx(99.01)
    with pytest.raises(ValueError):
        summarize([])


def test_next_chunk_never_passes_exact_run_count():
    assert size_next_chunk([], min_runs=10, exact=True) == 1
    assert size_next_chunk([1e-6] * 8, min_runs=10, exact=True) == 2
    assert size_next_chunk([0.01] * 8, min_runs=10, exact=False) == 5  # 50 ms chunks
    assert measure_progress([0.01] * 5, min_runs=10, min_seconds=0.0) == pytest.approx(0.5)
    assert measure_progress([0.01] * 20, min_runs=10, min_seconds=0.5) == pytest.approx(0.4)


def test_run_interleaved_alternates_models_and_counts_exactly():
    log: list[str] = []
    calls = {name: (lambda name=name: (log.append(name), time.sleep(0.01))) for name in ("a", "b")}
    timings, interrupted = run_interleaved(calls, warmup=2, min_runs=12, min_seconds=0.0)
    assert not interrupted
    assert [len(timings[name]) for name in ("a", "b")] == [12, 12]
    assert log.count("a") == 14 and log.count("b") == 14
    timed = log[4:]  # after the warm-up
    assert timed.index("b") < len(timed) - 1 - timed[::-1].index("a"), "b must start before a finishes"
    assert all(sample >= 0.009 for sample in timings["a"])


def test_run_interleaved_meets_time_floor_and_keeps_samples_on_ctrl_c():
    timings, _ = run_interleaved({"slow": lambda: time.sleep(0.005)}, warmup=0, min_runs=3, min_seconds=0.05)
    assert timings["slow"].size >= 3 and timings["slow"].sum() >= 0.05
    count = {"calls": 0}

    def interrupt_on_fifth_call():
        count["calls"] += 1
        if count["calls"] == 5:
            raise KeyboardInterrupt

    timings, interrupted = run_interleaved({"x": interrupt_on_fifth_call}, warmup=0, min_runs=100)
    assert interrupted and timings["x"].size == 4


def test_end_to_end_json_markdown_and_no_tensorflow_line(tiny_model, no_tensorflow, tmp_path):
    photos = write_photos(tmp_path / "photos")
    json_path, markdown_path = tmp_path / "bench.json", tmp_path / "bench.md"
    result = CliRunner().invoke(main, [str(tiny_model), "--baseline", str(no_tensorflow), "--data", str(photos),
                                       "--runs", "20", "--warmup", "2", "--batch", "4",
                                       "--json", str(json_path), "--markdown", str(markdown_path)])
    assert result.exit_code == 0, result.output
    no_tf_lines = [line for line in result.output.splitlines() if "TensorFlow is not installed" in line]
    assert len(no_tf_lines) == 1 and "catdog[train]" in no_tf_lines[0]
    rows = json.loads(json_path.read_text())
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert ROW_KEYS <= set(row)
    assert (row["model"], row["format"], row["precision"]) == ("tiny.onnx", "onnx", "fp32")
    assert row["size_bytes"] == tiny_model.stat().st_size
    assert set(row["latency_ms"]) == {"mean", "p50", "p90", "p99"}
    assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p90"] <= row["latency_ms"]["p99"]
    assert row["runs"] == 20 and row["throughput_ips"] > 0
    assert row["accuracy"] == pytest.approx(1.0)
    assert row["agreement"] is None and row["speedup_vs_keras"] == {"predict": None, "compiled": None}
    assert row["peak_rss_bytes"] > row["machine"]["bare_child_rss_bytes"] > 0
    assert row["machine"]["threads"] == 1 and row["machine"]["cpu"]
    markdown = markdown_path.read_text()
    assert "| tiny.onnx | onnx | fp32 |" in markdown and "onnxruntime" in markdown


def test_plot_needs_data_and_says_how_to_get_matplotlib(tiny_model, monkeypatch, tmp_path):
    result = CliRunner().invoke(main, [str(tiny_model), "--plot", str(tmp_path / "plot.png")])
    assert result.exit_code == 2 and "--data" in result.output
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    with pytest.raises(MissingExtraError, match=r"catdog\[train\]"):
        report.import_pyplot()


def test_write_plot_draws_one_point_per_model(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [{"model": name, "format": "onnx", "precision": "fp32", "latency_ms": {"p50": p50}, "accuracy": accuracy}
            for name, p50, accuracy in (("a.onnx", 0.2, 0.9), ("b.onnx", 3.0, 0.91))]
    result = runner.BenchResult(rows=rows, machine={"threads": 1, "cpu": "test CPU"})
    report.write_plot(result, tmp_path / "plot.png")
    with Image.open(tmp_path / "plot.png") as image:
        assert image.format == "PNG" and image.size[0] > 100


@pytest.mark.tf
def test_keras_baseline_rows_and_speedups(tiny_model, monkeypatch, tmp_path):
    from catdog.train.model import build_model

    # Cold starts are covered above; a TensorFlow child process would add ~10 s here.
    monkeypatch.setattr(runner, "measure_cold_start", lambda kind, path=None, **options: {"peak_rss_bytes": 1})
    baseline = tmp_path / "random.keras"
    build_model(image_size=(64, 64), seed=0).save(baseline)
    json_path = tmp_path / "bench.json"
    result = CliRunner().invoke(main, [str(tiny_model), "--baseline", str(baseline), "--runs", "5", "--warmup", "1",
                                       "--batch", "2", "--json", str(json_path)])
    assert result.exit_code == 0, result.output
    rows = {row["model"]: row for row in json.loads(json_path.read_text())}
    assert set(rows) == {"tiny.onnx", "random.keras (predict)", "random.keras (compiled)"}
    predict_p50 = rows["random.keras (predict)"]["latency_ms"]["p50"]
    tiny = rows["tiny.onnx"]
    assert tiny["speedup_vs_keras"]["predict"] == pytest.approx(predict_p50 / tiny["latency_ms"]["p50"])
    assert rows["random.keras (compiled)"]["speedup_vs_keras"]["compiled"] == pytest.approx(1.0)
    assert rows["random.keras (predict)"]["format"] == "keras"
