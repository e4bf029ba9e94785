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

from catdog.measure import report, runner
from catdog.measure.cli import main
from catdog.measure.timing import size_next_chunk, measure_progress, run_interleaved, summarize
from catdog.errors import MissingExtraError
from conftest import COLOURS, FRUIT, FRUIT_SPEC, build_softmax_onnx, save_onnx_graph, spec_metadata

ROW_KEYS = {"model", "format", "precision", "size_bytes", "latency_ms", "throughput_ips", "accuracy",
            "agreement", "speedup_vs_keras"}


def write_tiny_onnx(path: Path) -> Path:
    """Write a (N, 64, 64, 3) uint8 -> (N, 1) float32 ONNX model: sigmoid of (blue - red) mean.

    It carries a "catdog" metadata_props entry, as exported models do.
    """
    pytest.importorskip("onnx")
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
    metadata = {"schema": 2, "labels": ["cat", "dog"], "model_spec": ModelSpec(image_size=(64, 64), labels=("cat", "dog")).to_dict(),
                "format": "onnx", "precision": "fp32",
                "input": {"name": "image", "dtype": "uint8", "shape": [None, 64, 64, 3], "layout": "NHWC",
                          "quantization": None},
                "output": {"meaning": "probability of labels[1]", "dtype": "float32", "quantization": None}}
    return save_onnx_graph(graph, path, metadata=metadata)


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
    def missing(path, *, threads, **options):
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
    assert row["engine_floor_ms"] is None  # ONNX: no engine tool to compare with
    assert row["folder_batch"] >= 1 and row["folder_throughput_ips"] > 0
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


def test_table_shows_the_engine_floor_beside_p50_and_folder_batch_throughput():
    machine = {"cpu": "test CPU", "cores": 2, "threads": 1, "python": "3.11", "numpy": "2", "catdog": "0.1"}
    rows = [{"model": "m.tflite", "format": "tflite", "precision": "int8", "latency_ms": {"mean": 0.3, "p50": 0.25,
             "p90": 0.4, "p99": 0.5}, "engine_floor_ms": 0.12, "throughput_ips": 4100.4, "batch": 32,
             "folder_batch": 16, "folder_throughput_ips": 3550.6},
            {"model": "m.onnx", "format": "onnx", "precision": "fp32", "latency_ms": {"p50": 0.5},
             "engine_floor_ms": None, "folder_throughput_ips": None}]
    result = runner.BenchResult(rows=rows, machine=machine)
    header, rule, tflite, onnx = report.format_table(result).split("\n\n")[1].splitlines()
    columns = header.split()
    assert columns.index("floor") == columns.index("p50") + 2  # "p50 ms", then "floor ms"
    assert "@folder" in header
    cells = dict(zip(report.COLUMNS, report.format_row(rows[0])))
    assert (cells["p50 ms"], cells["floor ms"], cells["img/s"], cells["img/s @folder"]) == ("0.250", "0.120", "4100", "3551")
    cells = dict(zip(report.COLUMNS, report.format_row(rows[1])))
    assert cells["floor ms"] == "-" and cells["img/s @folder"] == "-"
    text = report.format_table(result)
    assert "litert-benchmark" in text and "at batch 16" in text
    markdown = report.render_markdown(result)
    assert "| floor ms |" in markdown and "| 0.120 |" in markdown


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


# --- K classes, and the baseline each file names -------------------------------------------------------

from catdog.runtime.spec import ModelSpec  # noqa: E402


def test_accuracy_and_agreement_decide_over_k_classes():
    from catdog.measure.accuracy import compute_accuracy, compute_agreement, match_classes

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.4, 0.4], [0.5, 0.5, 0.0]])
    assert compute_accuracy(probabilities, np.array([0, 2, 2, 1])) == 1.0  # ties go to the later label
    baseline = np.array([[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.9, 0.1, 0.0]])
    assert compute_agreement(probabilities, baseline) == 0.5
    assert compute_agreement(probabilities, None) is None
    assert compute_agreement(probabilities, baseline[:, :2]) is None  # different label sets
    assert match_classes(["cherry", "apple"], FRUIT).tolist() == [2, 0]  # by name
    assert match_classes(["cats", "dogs"], ("cat", "dog")).tolist() == [0, 1]  # by position
    with pytest.raises(Exception, match="2 classes .* 3 labels"):
        match_classes(["x", "y"], FRUIT)


def write_fruit_folder(root: Path, *, per_class: int = 3) -> Path:
    """One subfolder per fruit, holding images of that fruit's colour (which the fruit model gets right)."""
    for name, colour in zip(FRUIT, COLOURS):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            Image.new("RGB", (40, 30), colour).save(root / name / f"{index}.png")
    return root


class FakeKeras:
    """A stand-in for KerasBaseline (no TensorFlow): the same fruit model, through its ONNX engine."""

    def __init__(self, path: Path, engine):
        self.path, self.engine, self.spec = path, engine, engine.spec
        self.versions = {"tensorflow": "fake", "keras": "fake"}

    def timing_calls(self, *, batch: int):
        image = np.zeros((batch, *self.spec.input_shape), np.uint8)
        call = {"one": lambda: self.engine.predict(image[:1]), "batch": lambda: self.engine.predict(image)}
        return {"predict": call, "compiled": call}

    def probabilities(self, images, *, batch):
        return self.engine.predict(images)


def test_k_class_bench_finds_its_baseline_from_metadata_and_reports_agreement(tmp_path, monkeypatch):
    from catdog.export.loaders import source_sha256
    from catdog.runtime.engine import open_engine

    source = tmp_path / "runs" / "fruit.keras"
    source.parent.mkdir()
    source.write_bytes(b"the Keras model the file came from")
    metadata = spec_metadata(FRUIT_SPEC, source_model=str(source), source_sha256=source_sha256(source))
    model = build_softmax_onnx(tmp_path / "fruit.onnx", metadata=metadata)
    loaded = []

    def load(path, *, threads, **options):
        loaded.append(Path(path))
        return FakeKeras(Path(path), open_engine(model))

    monkeypatch.setattr(runner, "load_keras_baseline", load)
    monkeypatch.setattr(runner, "measure_cold_start", lambda kind, path=None, **options: {"peak_rss_bytes": 1})
    json_path = tmp_path / "bench.json"
    result = CliRunner().invoke(main, [str(model), "--data", str(write_fruit_folder(tmp_path / "fruit")),
                                       "--runs", "3", "--warmup", "0", "--batch", "2", "--json", str(json_path)])
    assert result.exit_code == 0, result.output
    assert loaded == [source] and "different model" not in result.output
    rows = {row["model"]: row for row in json.loads(json_path.read_text())}
    assert rows["fruit.onnx"]["accuracy"] == 1.0 and rows["fruit.onnx"]["agreement"] == 1.0
    assert rows["fruit.onnx"]["images"] == 9


def test_baseline_lookup_order_metadata_then_flag_then_shipped(tmp_path):
    from catdog.measure.keras_baseline import find_source_model
    from catdog.export.loaders import source_sha256
    from catdog.runtime.models import keras_baseline_path

    source = tmp_path / "model.keras"
    source.write_bytes(b"weights")
    exported = tmp_path / "out" / "model_int8.onnx"
    exported.parent.mkdir()
    digest = source_sha256(source)
    assert find_source_model({"source_model": str(source), "source_sha256": digest}, model_path=exported) == source
    # A relative path the user gave at export time is also tried beside the exported file.
    (exported.parent / "model.keras").write_bytes(b"weights")
    assert find_source_model({"source_model": "elsewhere/model.keras", "source_sha256": digest},
                             model_path=exported) == exported.parent / "model.keras"
    assert find_source_model({"source_model": str(source), "source_sha256": "f" * 64}, model_path=exported) is None
    assert find_source_model({}, model_path=exported) is None
    # Schema-1 shipped files name their source in export_options.model.
    shipped = {"export_options": {"model": "shipped:catdog.keras"}}
    assert find_source_model(shipped, model_path=exported) == keras_baseline_path()

    def contestant(metadata):
        return runner.Contestant(name="m.onnx", row={"path": str(exported)}, one=None, many=None,
                                 probabilities=None, spec=FRUIT_SPEC, metadata=metadata)

    notes: list[str] = []
    wrong = {"source_model": str(tmp_path / "gone.keras"), "source_sha256": digest}
    path = runner.choose_baseline_path(runner.BenchConfig(), [contestant(wrong)], notes)
    if keras_baseline_path().is_file():
        assert path == keras_baseline_path()
        assert len(notes) == 1 and "different model" in notes[0] and "gone.keras" in notes[0]
    notes.clear()
    assert runner.choose_baseline_path(runner.BenchConfig(baseline=source), [contestant(wrong)], notes) == source
    assert notes == []  # the flag's file is the files' source (same SHA-256)
    other = tmp_path / "other.keras"
    other.write_bytes(b"another model")
    assert runner.choose_baseline_path(runner.BenchConfig(baseline=other), [contestant(wrong)], notes) == other
    assert len(notes) == 1 and "not the Keras model" in notes[0]


def test_shipped_files_find_the_shipped_keras_model():
    from catdog.measure.keras_baseline import find_source_model
    from catdog.runtime.metadata import read_metadata
    from catdog.runtime.models import keras_baseline_path, shipped_model_path

    path = shipped_model_path("catdog_int8.onnx")
    if not path.is_file() or not keras_baseline_path().is_file():
        pytest.skip("the shipped models are not in this tree")
    assert find_source_model(read_metadata(path), model_path=path) == keras_baseline_path()


def test_empty_accuracy_columns_point_at_data_and_plot_points_name_model_and_precision(tmp_path, monkeypatch):
    rows = [{"model": "a.onnx", "format": "onnx", "precision": "int8", "latency_ms": {"p50": 0.2}, "accuracy": None,
             "agreement": None}]
    result = runner.BenchResult(rows=rows, machine={"threads": 1, "cpu": "test CPU", "cores": 2, "python": "3",
                                                    "numpy": "2", "catdog": "0"})
    assert report.format_table(result).splitlines()[-1].startswith("accuracy and agreement: add --data DIR")
    assert "--data DIR" in report.render_markdown(result)
    rows[0]["accuracy"] = 0.9
    assert "--data DIR" not in report.format_table(result)
    matplotlib = pytest.importorskip("matplotlib")
    labels = []
    original = matplotlib.axes.Axes.legend

    def record_legend(self, *args, **kwargs):
        labels.extend(self.get_legend_handles_labels()[1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "legend", record_legend)
    rows.append({**rows[0], "model": "b.tflite", "precision": "fp32", "latency_ms": {"p50": 1.0}})
    report.write_plot(result, tmp_path / "plot.png")
    assert labels == ["a.onnx (int8): 0.2 ms, 90.00%", "b.tflite (fp32): 1 ms, 90.00%"]


# --- the baseline is fed and read as its exported files record ------------------------------------------


def test_baseline_takes_the_source_head_from_the_files_it_was_exported_to(tmp_path, monkeypatch):
    from catdog.measure.keras_baseline import head_from_metadata
    from catdog.export.heads import Head
    from catdog.export.loaders import source_sha256

    source = tmp_path / "notebook.h5"
    source.write_bytes(b"a notebook model")
    metadata = spec_metadata(FRUIT_SPEC, source_model=str(source), source_sha256=source_sha256(source),
                             source_output="logits", source_pixel_range=[0.0, 1.0], source_units=3)
    assert head_from_metadata(metadata, spec=FRUIT_SPEC) == Head("logits", (0.0, 1.0), 3)
    assert head_from_metadata({"schema": 1}, spec=FRUIT_SPEC) is None
    saved_model = tmp_path / "saved_model"  # a SavedModel folder is found and hashed as export hashed it
    (saved_model / "variables").mkdir(parents=True)
    (saved_model / "saved_model.pb").write_bytes(b"graph")
    (saved_model / "variables" / "variables.index").write_bytes(b"weights")
    from catdog.measure.keras_baseline import find_source_model

    folder_metadata = {"source_model": str(saved_model), "source_sha256": source_sha256(saved_model)}
    assert find_source_model(folder_metadata, model_path=tmp_path / "m.onnx") == saved_model
    captured = {}
    monkeypatch.setattr(runner, "load_keras_baseline", lambda path, **options: captured.update(options) or "loaded")
    contestant = runner.Contestant(name="m.onnx", row={}, one=None, many=None, probabilities=None, spec=FRUIT_SPEC,
                                   metadata=metadata)
    notes: list[str] = []
    assert runner.load_baseline(source, config=runner.BenchConfig(), contestants=[contestant], notes=notes) == "loaded"
    assert captured["head"] == Head("logits", (0.0, 1.0), 3) and captured["spec"] == FRUIT_SPEC and notes == []
    # Another model than the files' source gets neither: its own card or tensors decide.
    other = tmp_path / "other.keras"
    other.write_bytes(b"another model")
    runner.load_baseline(other, config=runner.BenchConfig(), contestants=[contestant], notes=notes)
    assert captured["head"] is None and captured["spec"] is None


@pytest.mark.tf
def test_notebook_baseline_scales_pixels_and_applies_its_head(tmp_path):
    """A 0..1 model with one logit: the baseline must scale pixels and turn the logit into [1 - p, p]."""
    import keras

    from catdog.measure.keras_baseline import load_keras_baseline
    from catdog.export.heads import Head

    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    logit = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant([[-4.0], [0.0], [4.0]]),
                               bias_initializer="zeros")(pooled)
    path = tmp_path / "notebook.keras"
    keras.Model(inputs, logit).save(path)
    spec = ModelSpec(image_size=(8, 8), labels=("cat", "dog"), output="softmax")
    baseline = load_keras_baseline(path, threads=1, spec=spec, head=Head("logits", (0.0, 1.0), 1))
    images = np.zeros((2, 8, 8, 3), np.uint8)
    images[0, ..., 0] = 255  # red: logit -4
    images[1, ..., 2] = 204  # 80% blue: logit 3.2
    logits = np.array([-4.0, 3.2])
    dog = 1.0 / (1.0 + np.exp(-logits))
    np.testing.assert_allclose(baseline.probabilities(images, batch=2), np.stack([1 - dog, dog], axis=1), atol=1e-5)
    assert set(baseline.timing_calls(batch=2)) == {"predict", "compiled"}


def test_table_header_names_the_cpu_model_class_and_isa_features():
    machine = {"cpu": "Test EPYC", "cpu_class": "x86-64 avx512_vnni", "cpu_features": ["avx2", "avx512f", "avx512_vnni"],
               "cores": 2, "threads": 1, "python": "3.11", "numpy": "2", "catdog": "0.1"}
    rows = [{"model": "m.onnx", "format": "onnx", "precision": "int8", "latency_ms": {"p50": 0.5}}]
    header = report.format_table(runner.BenchResult(rows=rows, machine=machine)).split("\n\n")[0]
    assert "CPU class: x86-64 avx512_vnni (model Test EPYC; ISA features: avx2, avx512f, avx512_vnni)" in header
    assert "CPU class: x86-64 avx512_vnni" in report.render_markdown(runner.BenchResult(rows=rows, machine=machine))
    older = report.format_table(runner.BenchResult(rows=rows, machine={**machine, "cpu_class": None,
                                                                         "cpu_features": []}))
    assert "ISA features: none of avx2, avx512_vnni, asimddp" in older
