"""Tests for catdog.runtime's engines, model lookup, preprocessing, sources and folder pipeline.

Models here are tiny ONNX graphs built with the `onnx` helper API: P(dog) rises with the
image's blue minus red mean, which matches the synthetic photos of `conftest.write_class_folder`
(cats reddish, dogs bluish). The helpers are imported by the other runtime test modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog.errors import CatdogError
from catdog.runtime import models
from catdog.runtime.engine import dequantize, open_engine, quantize
from catdog.runtime.metadata import read_metadata
from catdog.runtime.pipeline import classify_files
from catdog.runtime.prediction import Prediction, decide, make_prediction
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec
from catdog.runtime.sources import Stream, expand_sources
from conftest import (CATDOG_SPEC as SPEC, COLOURS, FRUIT, FRUIT_SPEC, SLOPE, build_onnx_model, build_softmax_onnx,
                      catdog_metadata, expected_probability, spec_metadata, write_class_folder, write_colour_images)

TEST_DATA = Path(__file__).parent / "data"  # committed fixtures (see tests/data/make_refused_onnx.py)


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    """A tiny float-input ONNX model carrying catdog metadata."""
    return build_onnx_model(tmp_path / "tiny.onnx", metadata=catdog_metadata())


# --- engines ------------------------------------------------------------------------------------


def test_onnx_engine_matches_the_graph_and_reads_metadata(onnx_model):
    engine = open_engine(onnx_model, threads=1)
    batch = np.random.default_rng(0).integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)
    probabilities = engine.predict(batch)
    assert probabilities.shape == (5, 2) and probabilities.dtype == np.float32  # one unit becomes [1 - p, p]
    np.testing.assert_allclose(probabilities[:, 1], [expected_probability(image) for image in batch], atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert engine.format == "onnx" and engine.labels == ("cat", "dog")
    assert engine.metadata["schema"] == 2
    assert engine.describe()["engine"] == "onnxruntime" and engine.describe()["threads"] == 1


def test_engine_takes_preprocessing_from_embedded_metadata(tmp_path):
    custom = SPEC.replace(resize="nearest", jpeg_draft=False)
    engine = open_engine(build_onnx_model(tmp_path / "m.onnx", metadata=catdog_metadata(spec=custom)))
    assert engine.spec == custom


def test_model_without_metadata_takes_its_spec_from_its_tensors(tmp_path):
    engine = open_engine(build_onnx_model(tmp_path / "bare.onnx"))
    assert engine.spec == SPEC.replace(labels=("class_0", "class_1"))
    assert engine.predict(np.zeros((1, 64, 64, 3), np.uint8))[0] == pytest.approx([0.5, 0.5])
    assert "no catdog metadata" in engine.spec_warning and "\n" not in engine.spec_warning
    assert open_engine(build_onnx_model(tmp_path / "m.onnx", metadata=catdog_metadata())).spec_warning is None


def test_three_class_model_gives_k_probabilities_in_label_order(tmp_path):
    engine = open_engine(build_softmax_onnx(tmp_path / "fruit.onnx", metadata=spec_metadata(FRUIT_SPEC)))
    assert engine.labels == FRUIT and engine.spec_warning is None
    batch = np.stack([np.full((48, 48, 3), colour, np.uint8) for colour in COLOURS])
    probabilities = engine.predict(batch)
    assert probabilities.shape == (3, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert list(decide(probabilities)) == [0, 1, 2]


@pytest.mark.parametrize("batch", [1, 4])
def test_fixed_batch_onnx_runs_a_folder_of_seven(tmp_path, batch):
    fixed = open_engine(build_softmax_onnx(tmp_path / "fixed.onnx", batch=batch, metadata=spec_metadata(FRUIT_SPEC)))
    dynamic = open_engine(build_softmax_onnx(tmp_path / "dynamic.onnx", metadata=spec_metadata(FRUIT_SPEC)))
    assert fixed.fixed_batch == batch and dynamic.fixed_batch is None
    paths = write_colour_images(tmp_path / "images", count=7)
    results = list(classify_files(fixed, paths, batch_size=32, workers=1))
    assert [result.label for result in results] == [FRUIT[index % 3] for index in range(7)]
    images = np.stack([load_image(path, spec=FRUIT_SPEC) for path in paths])
    np.testing.assert_allclose(fixed.predict(images), dynamic.predict(images), atol=1e-6)  # padding never leaks


@pytest.mark.parametrize("spec, message", [
    (FRUIT_SPEC.replace(image_size=(64, 64)), "input is 48x48x3 but its spec says 64x64x3"),
    (FRUIT_SPEC.replace(labels=("a", "b", "c", "d")), "output has 3 units but its spec names 4 labels"),
])
def test_spec_that_disagrees_with_the_tensors_is_refused_at_load(tmp_path, spec, message):
    path = build_softmax_onnx(tmp_path / "wrong.onnx", metadata=spec_metadata(spec))
    with pytest.raises(CatdogError, match=message) as caught:
        open_engine(path)
    assert "\n" not in str(caught.value) and str(caught.value).count("wrong.onnx") == 1


def test_model_that_cannot_take_an_rgb_image_is_refused_at_load():
    # Committed files (tests/data/make_refused_onnx.py made them): no `onnx` package needed, so this
    # passes on the runtime-only install a device gets.
    with pytest.raises(CatdogError, match="3 channels"):
        open_engine(TEST_DATA / "refused_grey.onnx")
    with pytest.raises(CatdogError, match=r"input is 48x48x1 but its spec says 48x48x3"):
        open_engine(TEST_DATA / "refused_grey_spec.onnx")
    with pytest.raises(CatdogError, match="not an image type"):
        open_engine(TEST_DATA / "refused_int64.onnx")
    with pytest.raises(CatdogError, match="not fixed"):
        open_engine(TEST_DATA / "refused_any_size.onnx")


def test_decide_breaks_ties_toward_the_later_label():
    assert list(decide(np.array([[0.5, 0.5], [0.6, 0.4], [0.2, 0.4, 0.4][:2]]))) == [1, 0, 1]
    assert list(decide(np.array([[0.2, 0.4, 0.4], [0.4, 0.4, 0.2], [1 / 3] * 3]))) == [2, 1, 2]
    assert decide(np.array([0.1, 0.9])).tolist() == [1]  # one row


def test_prediction_top_k_and_record():
    prediction = make_prediction(np.array([0.1, 0.45, 0.45]), labels=FRUIT, latency_ms=1.23456, source="x.png")
    assert prediction.label == "cherry" and prediction.confidence == pytest.approx(0.45)
    assert prediction.top_k(2) == [("cherry", pytest.approx(0.45)), ("banana", pytest.approx(0.45))]
    assert [label for label, _ in prediction.top_k(10)] == ["cherry", "banana", "apple"]
    record = prediction.to_dict(top_k=2)
    assert list(record["probabilities"]) == list(FRUIT) and record["latency_ms"] == 1.235
    assert record["top_k"] == [{"label": "cherry", "probability": 0.45}, {"label": "banana", "probability": 0.45}]
    assert "top_k" not in prediction.to_dict()
    binary = make_prediction(0.5, labels=("no", "yes"), latency_ms=0.0)  # a sigmoid's P(labels[1])
    assert binary.label == "yes" and binary.probabilities == {"no": 0.5, "yes": 0.5}
    with pytest.raises(ValueError, match="2 probabilities for 3 labels"):
        make_prediction([0.5, 0.5], labels=FRUIT, latency_ms=0.0)
    assert isinstance(prediction, Prediction)


def test_uint8_input_model_gets_raw_pixels(tmp_path):
    path = build_onnx_model(tmp_path / "u8.onnx", metadata=catdog_metadata(input_dtype="uint8"), input_dtype="uint8")
    image = np.zeros((1, 64, 64, 3), np.uint8)
    image[..., 2] = 200
    assert open_engine(path).predict(image)[0, 1] == pytest.approx(expected_probability(image[0]), abs=1e-5)


def test_quantize_and_dequantize_round_trip():
    pixels = np.array([0, 100, 255], dtype=np.uint8)
    assert quantize(pixels, dtype=np.uint8, scale=1.0, zero_point=0) is pixels
    np.testing.assert_array_equal(quantize(pixels, dtype=np.int8, scale=1.0, zero_point=-128), [-128, -28, 127])
    np.testing.assert_allclose(dequantize(np.array([0, 128, 255], np.uint8), scale=1 / 256, zero_point=0),
                               [0.0, 0.5, 255 / 256])


@pytest.mark.parametrize("name, message", [("model.pb", "unknown model type"), ("missing.onnx", "model not found")])
def test_unknown_or_missing_model_is_a_usage_error(tmp_path, name, message):
    with pytest.raises(CatdogError, match=message):
        open_engine(tmp_path / name)


def test_corrupt_model_is_a_usage_error(tmp_path):
    for name in ("corrupt.onnx", "corrupt.tflite"):
        (tmp_path / name).write_bytes(b"this is not a model" * 10)
        with pytest.raises(CatdogError, match="cannot load model"):
            open_engine(tmp_path / name)


def test_default_model_is_the_pick_for_this_cpu_class_and_never_tflite_without_litert(monkeypatch):
    # The pick itself is tested with fake tables in tests/test_default_model.py.
    assert models.default_model_path() == models.choose_default_model().path
    assert models.default_model_path().name in models.DEFAULT_ORDER
    monkeypatch.setattr(models, "litert_available", lambda: False)
    assert models.default_model_path().suffix == ".onnx"
    assert models.keras_baseline_path().name == "catdog.keras"
    assert all(path.parent == models.MODELS_DIR for path in models.shipped_models())


def test_shipped_int8_tflite_runs_on_litert_without_tensorflow():
    path = models.shipped_model_path("catdog_int8.tflite")
    if not path.exists():
        pytest.skip("the shipped model is not in this tree yet")
    engine = open_engine(path)
    assert engine.describe()["engine"] in ("ai-edge-litert", "tflite-runtime")
    assert engine.precision == "int8" and engine.spec.image_size == (64, 64)
    batch = np.random.default_rng(1).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    together = engine.predict(batch)
    alone = np.array([engine.predict(image[None])[0] for image in batch])
    assert together.shape == (3, 2) and ((0 <= together) & (together <= 1)).all()
    np.testing.assert_allclose(together, alone, atol=1e-6)  # batching must not change answers


def foreign_tflite(tmp_path: Path, *, labels: list[str] | None = None) -> Path:
    """The shipped int8 .tflite with catdog's own metadata entry renamed away, so only the standard
    TFLite Metadata (and its label file, replaced by `labels` when given) names the classes."""
    import io
    import zipfile

    from catdog.export.tflite_metadata import attach_associated_files
    from catdog.runtime.metadata import LABEL_FILE_NAME

    data = models.shipped_model_path("catdog_int8.tflite").read_bytes()
    entry_name = b"\x06\x00\x00\x00catdog\x00"  # the flatbuffer string naming the "catdog" entry
    assert data.count(entry_name) == 1
    data = data.replace(entry_name, b"\x06\x00\x00\x00vendor\x00")
    if labels is not None:
        start = zipfile.ZipFile(io.BytesIO(data)).infolist()[0].header_offset  # where the label archive begins
        data = attach_associated_files(data[:start], {LABEL_FILE_NAME: "\n".join(labels).encode("utf-8")})
    path = tmp_path / "foreign.tflite"
    path.write_bytes(data)
    return path


def test_foreign_tflite_takes_its_labels_from_standard_tflite_metadata(tmp_path):
    if not models.litert_available():
        pytest.skip("no TFLite interpreter installed")
    engine = open_engine(foreign_tflite(tmp_path))
    assert engine.metadata == {}
    shipped_labels = tuple(read_metadata(models.shipped_model_path("catdog_int8.tflite"))["labels"])
    assert engine.labels == shipped_labels and len(shipped_labels) == 2 and engine.spec_warning is None
    assert engine.predict(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 2)


def test_foreign_tflite_with_the_wrong_number_of_standard_labels_falls_back_to_class_names(tmp_path):
    if not models.litert_available():
        pytest.skip("no TFLite interpreter installed")
    engine = open_engine(foreign_tflite(tmp_path, labels=["cat", "dog", "bird"]))
    assert engine.labels == ("class_0", "class_1")
    assert "no catdog metadata" in engine.spec_warning


def test_classifying_never_imports_tensorflow(onnx_model, tmp_path):
    image = tmp_path / "one.png"
    Image.new("RGB", (30, 20), (0, 0, 255)).save(image)
    script = ("import sys, catdog.runtime, catdog.runtime.cli, catdog.runtime.classifier\n"
              "from catdog.runtime.runner import RunConfig, run\n"
              f"run(RunConfig(sources=({str(image)!r},), model={str(onnx_model)!r}))\n"
              "heavy = [name for name in ('tensorflow', 'keras', 'onnx', 'tf2onnx') if name in sys.modules]\n"
              "print('HEAVY', heavy)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout and " dog " in result.stdout


def test_cli_import_path_starts_quickly():
    # Loose on purpose (a loaded 2-core machine must not fail it); benchmarks/cold_start.py has the real figure.
    script = "import sys, catdog.runtime.cli; assert 'tensorflow' not in sys.modules"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert time.perf_counter() - started < 1.5


@pytest.mark.tf
def test_keras_engine_matches_the_keras_model(tmp_path):
    from catdog.train.model import build_model

    model = build_model(image_size=(64, 64), seed=0)
    model.save(tmp_path / "random.keras")
    engine = open_engine(tmp_path / "random.keras")
    batch = np.random.default_rng(2).integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    expected = np.asarray(model(batch.astype(np.float32), training=False)).reshape(-1)
    np.testing.assert_allclose(engine.predict(batch)[:, 1], expected, atol=1e-6)
    assert engine.describe()["engine"] == "tensorflow" and engine.spec == SPEC.replace(labels=("class_0", "class_1"))


# --- preprocessing ------------------------------------------------------------------------------


def mode_images() -> dict[str, Image.Image]:
    """One small image in each Pillow mode a user might hand us."""
    rgb = Image.new("RGB", (40, 30), (200, 40, 10))
    return {
        "L": rgb.convert("L"), "LA": rgb.convert("LA"), "P": rgb.convert("P"), "RGBA": rgb.convert("RGBA"),
        "CMYK": rgb.convert("CMYK"), "I;16": Image.fromarray(np.full((30, 40), 65535, np.uint16)),
        "1": rgb.convert("1"),
    }


@pytest.mark.parametrize("mode", list(mode_images()))
def test_every_mode_becomes_64x64_rgb_uint8(tmp_path, mode):
    image = mode_images()[mode]
    path = tmp_path / ("x.tiff" if mode in ("CMYK", "I;16") else "x.png")
    image.save(path)
    pixels = load_image(path, spec=SPEC)
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    if mode == "I;16":
        assert pixels.min() == 255  # full-scale 16-bit is white, not clipped garbage
    if mode == "CMYK":
        assert pixels[..., 0].mean() > pixels[..., 2].mean()  # still reddish after conversion


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red, right half blue
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(pixels).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    loaded = load_image(tmp_path / "rotated.jpg", spec=SPEC)
    # After a clockwise turn the red half is on top and the blue half at the bottom.
    assert loaded[:20, :, 0].mean() > 200 and loaded[-20:, :, 2].mean() > 200


@pytest.mark.tf
def test_runtime_arrays_equal_the_training_pipeline(tmp_path):
    from catdog.train.data import decode_images, list_labelled_files

    folder = write_class_folder(tmp_path / "photos", per_class=3, size=(333, 251))
    files = list_labelled_files(folder)
    training_images, _ = decode_images(files, spec=SPEC, workers=2)

    class Recorder:
        spec, labels, seen = SPEC, ("cat", "dog"), []

        def predict(self, batch):
            self.seen.append(batch.copy())
            return np.full(len(batch), 0.5, np.float32)

    recorder = Recorder()
    list(classify_files(recorder, files.paths, batch_size=4))
    np.testing.assert_array_equal(np.concatenate(recorder.seen), training_images)


# --- sources and the folder pipeline ---------------------------------------------------------------


def test_sources_expand_folders_globs_videos_urls_and_camera_naming_each_file_once(tmp_path):
    write_class_folder(tmp_path / "photos", per_class=2)
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    (tmp_path / "photos" / ".hidden.jpg").write_bytes(b"")
    inputs = expand_sources([str(tmp_path / "photos"), str(tmp_path / "photos" / "cats" / "*.jpg"),
                             "clip.mp4", "rtsp://camera.local/stream", str(tmp_path / "absent.jpg")], camera=0)
    names = [item.name if isinstance(item, Stream) else item.name for item in inputs]
    # The glob's files were already named by the folder: each photo is classified once.
    assert names == ["cat.0.jpg", "cat.1.jpg", "dog.0.jpg", "dog.1.jpg",
                     "clip.mp4", "rtsp://camera.local/stream", "absent.jpg", "camera:0"]


def test_folder_pipeline_classifies_in_order_with_errors_in_place(onnx_model, tmp_path):
    folder = write_class_folder(tmp_path / "photos", per_class=5)
    paths = sorted(folder.rglob("*.jpg"))
    (folder / "broken.jpg").write_bytes(b"")
    paths.insert(3, folder / "broken.jpg")
    results = list(classify_files(open_engine(onnx_model), paths, batch_size=4, workers=2))
    assert [result.source for result in results] == [str(path) for path in paths]
    assert results[3].error and results[3].label is None
    labels = [result.label for result in results if result.error is None]
    assert labels == ["cat"] * 5 + ["dog"] * 5
    assert all(result.latency_ms > 0 for result in results)


@pytest.mark.tf
def test_metadata_less_96x96_tflite_with_a_fixed_batch_runs_a_folder(tmp_path):
    """A foreign TFLite file: 96x96, batch fixed to 1, 3 softmax outputs, no catdog metadata."""
    import tensorflow as tf
    from click.testing import CliRunner

    from catdog.runtime.cli import main

    weights = tf.constant(np.eye(3, dtype=np.float32) * SLOPE)

    @tf.function(input_signature=[tf.TensorSpec([1, 96, 96, 3], tf.float32)])
    def classify(image):
        return tf.nn.softmax(tf.matmul(tf.reduce_mean(image, axis=[1, 2]), weights))

    converter = tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], classify)
    path = tmp_path / "foreign.tflite"
    path.write_bytes(converter.convert())
    engine = open_engine(path)
    assert engine.spec.image_size == (96, 96) and engine.labels == ("class_0", "class_1", "class_2")
    assert engine.fixed_batch == 1 and engine.spec_warning
    write_colour_images(tmp_path / "images", count=5)
    result = CliRunner().invoke(main, [str(tmp_path / "images"), "--model", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["label"] for record in records] == [f"class_{index % 3}" for index in range(5)]
    assert sum("no catdog metadata" in line for line in result.stderr.splitlines()) == 1


@pytest.mark.tf
def test_keras_engine_refuses_an_unknown_pixel_range_and_applies_a_cards(tmp_path):
    import keras

    inputs = keras.Input((16, 16, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(features))  # no Rescaling layer
    model.save(tmp_path / "my.keras")
    with pytest.raises(CatdogError, match=r"pixel range is unknown: export it with `catdog-export .*my\.keras "
                                          r"--pixel-range 0,1\|-1,1\|0,255` and run the exported file") as refused:
        open_engine(tmp_path / "my.keras")
    assert refused.value.exit_code == 2 and "\n" not in str(refused.value)
    card = ModelSpec(image_size=(16, 16), labels=("no", "yes"), output="sigmoid", pixel_range=(0.0, 1.0))
    (tmp_path / "card.json").write_text(json.dumps({"model_spec": card.to_dict()}))
    batch = np.random.default_rng(3).integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
    expected = np.asarray(model(batch.astype(np.float32) / 255.0, training=False)).reshape(-1)
    np.testing.assert_allclose(open_engine(tmp_path / "my.keras").predict(batch)[:, 1], expected, atol=1e-6)


def test_one_recursive_glob_matching_a_folder_and_its_files_names_each_file_once(tmp_path):
    write_class_folder(tmp_path / "photos", per_class=2)
    inputs = expand_sources([str(tmp_path / "photos" / "**")])
    assert sorted(item.name for item in inputs) == ["cat.0.jpg", "cat.1.jpg", "dog.0.jpg", "dog.1.jpg"]
