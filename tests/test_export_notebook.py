"""Notebook models from real bug reports (issue 31): each failure case, built the way a notebook makes it.

* an adapted `keras.layers.Normalization` first layer exports to every format (its mean and
  variance folded into the ONNX graph, not left as graph inputs) and agrees with Keras;
* a `.keras` written by tf_keras that Keras 3 cannot deserialize loads with tf_keras, and without
  tf_keras the one line says who wrote it and what to install;
* an `.h5` written by Keras 3 loads with Keras 3;
* a custom layer class that is not importable: the one line names the class and
  `--custom-objects`, which then makes it export;
* calibration honesty: int8 checked on its own calibration images says so; grey calibration
  frames, calibration images unlike the validation images and calibration images the model gives
  one label draw warnings.

The error-message helpers and calibration statistics are tested without TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from PIL import Image

from catdog.errors import shorten_middle
from catdog.export.calibration import calibration_warnings, label_mix_warning
from catdog.export.load_errors import innermost_cause, missing_class
from catdog.runtime.files import list_images
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec
from conftest import write_class_folder

SIZE = (32, 32)


def decode(folder):
    """(N, 32, 32, 3) uint8 pixels of every image under `folder`, as export decodes them, and 0/1 labels (dogs = 1)."""
    paths = list_images(folder).paths
    spec = ModelSpec(image_size=SIZE, labels=("cat", "dog"))
    return (np.stack([load_image(path, spec=spec) for path in paths]),
            np.array([int(path.parent.name == "dogs") for path in paths]))


def small_layers(layers, *, first):
    """The body every model here shares after its first layer: tiny, so building and exporting take seconds."""
    return [layers.Input((*SIZE, 3)), *first, layers.Conv2D(4, 3, strides=4), layers.GlobalAveragePooling2D(),
            layers.Dense(1, activation="sigmoid")]


def run_export(arguments):
    from catdog.export.cli import main

    return CliRunner().invoke(main, [str(argument) for argument in arguments])


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Learnable two-class photos (conftest's reddish cats, bluish dogs): training, calibration and validation sets."""
    root = tmp_path_factory.mktemp("images")
    folders = {name: write_class_folder(root / name, per_class=count, size=SIZE, seed=seed)
               for name, count, seed in (("train", 48, 1), ("calib", 20, 2), ("val", 20, 3))}
    return {**folders, "pixels": decode(folders["val"])[0]}


@pytest.mark.tf
def test_adapted_normalization_model_exports_every_format_and_agrees_with_keras(tmp_path, images):
    import keras
    import onnx

    from catdog.export.verify import file_probabilities

    keras.utils.set_random_seed(0)
    train, labels = decode(images["train"])
    normalization = keras.layers.Normalization()
    normalization.adapt(train.astype(np.float32))
    model = keras.Sequential(small_layers(keras.layers, first=[normalization]))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(train.astype(np.float32), labels, epochs=5, batch_size=32, verbose=0)
    model.save(tmp_path / "normalized.keras")
    out = tmp_path / "out"
    result = run_export([tmp_path / "normalized.keras", "--int8", "--fp32", "--labels", "cat,dog",
                         "--calib", images["calib"], "--val", images["val"], "--out", out])
    assert result.exit_code == 0, result.output
    assert "leading Normalization layer" in result.output
    names = sorted(path.name for path in out.iterdir())
    assert names == ["normalized_fp32.onnx", "normalized_fp32.tflite", "normalized_int8.onnx", "normalized_int8.tflite"]
    # The layer's mean and variance are constants in the graph: the only input is the image.
    graph = onnx.load(out / "normalized_fp32.onnx").graph
    assert [node.name for node in graph.input] == ["input"] and [node.name for node in graph.output] == ["probabilities"]
    expected = model.predict(images["pixels"].astype(np.float32), verbose=0).reshape(-1)
    for name in ("normalized_fp32.onnx", "normalized_fp32.tflite"):
        assert np.max(np.abs(file_probabilities(out / name, images["pixels"])[:, 1] - expected)) <= 1e-3, name
    assert result.output.count("| ok |") == 4


@pytest.mark.tf
def test_keras_file_written_by_tf_keras_loads_with_tf_keras_or_names_the_extra(tmp_path, monkeypatch):
    tf_keras = pytest.importorskip("tf_keras")
    from catdog.export import loaders

    layers = tf_keras.layers
    model = tf_keras.Sequential(small_layers(layers, first=[layers.Rescaling(1 / 255), layers.BatchNormalization()]))
    model.save(tmp_path / "legacy.keras")  # Keras 3 cannot deserialize this BatchNormalization config
    result = run_export([tmp_path / "legacy.keras", "--format", "onnx", "--labels", "cat,dog", "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    assert f"written by Keras {tf_keras.__version__} (tf.keras / tf_keras), loaded with tf_keras" in result.output
    monkeypatch.setattr(loaders, "_tf_keras", lambda: None)  # as if the [legacy] extra were not installed
    refused = run_export([tmp_path / "legacy.keras", "--out", tmp_path / "out2"])
    assert refused.exit_code == 2
    line = refused.output.strip()
    assert len(line.splitlines()) == 1 and len(line) < 600
    assert "Keras 3 could not read this Keras 2 file" in line and "pip install 'catdog[legacy]'" in line
    assert "int() argument must be" in line  # the root cause, not the first 200 characters


@pytest.mark.tf
def test_h5_written_by_keras3_loads_with_keras3_and_a_file_the_runtime_cannot_run_is_one_line(tmp_path, monkeypatch):
    import keras

    from catdog.export import verify

    model = keras.Sequential(small_layers(keras.layers, first=[keras.layers.Rescaling(1 / 255)]))
    model.save(tmp_path / "new.h5")
    command = [tmp_path / "new.h5", "--format", "tflite", "--labels", "cat,dog"]
    result = run_export([*command, "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    assert f"(h5, written by Keras {keras.__version__}, loaded with Keras {keras.__version__})" in result.output

    def crash(path, images):  # what onnxruntime said of the Normalization model's fp32 ONNX file
        raise ValueError("Required inputs (['sequential_1/normalization_1/Sub/y:0']) are missing from input feed")

    monkeypatch.setattr(verify, "file_probabilities", crash)
    crashed = run_export([*command, "--out", tmp_path / "crashed"])
    assert crashed.exit_code == 1 and not list((tmp_path / "crashed").iterdir())
    assert crashed.output.strip().splitlines()[-1] == (
        "Error: tflite fp32 check failed: the runtime could not run the converted file: ValueError: Required inputs "
        "(['sequential_1/normalization_1/Sub/y:0']) are missing from input feed")


@pytest.mark.tf
def test_missing_custom_layer_is_named_and_custom_objects_supplies_it(tmp_path, images):
    import keras

    from catdog.export.verify import file_probabilities

    @keras.saving.register_keras_serializable(package="notebook")
    class PixelScale(keras.layers.Layer):
        def call(self, inputs):
            return inputs / 255.0

    model = keras.Sequential(small_layers(keras.layers, first=[PixelScale()]))
    model.save(tmp_path / "custom.keras")
    # A fresh process, as the user's: the notebook's class is not registered there.
    del keras.saving.get_custom_objects()["notebook>PixelScale"]
    command = [tmp_path / "custom.keras", "--format", "onnx", "--pixel-range", "0,255", "--labels", "cat,dog",
               "--out", tmp_path / "out"]
    refused = run_export(command)
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"Error: cannot read model {tmp_path / 'custom.keras'} (written by Keras {keras.__version__}): Could not "
        "locate class 'PixelScale': pass --custom-objects FILE.py defining it (docs/export-your-model.md)"]
    verbose = run_export([*command, "--verbose"])
    assert verbose.exit_code == 2 and "Exception encountered: Could not locate class 'PixelScale'" in verbose.output
    # The user's file: a plain copy of the class, without the decorator.
    (tmp_path / "my_layers.py").write_text("import keras\n\n\nclass PixelScale(keras.layers.Layer):\n"
                                           "    def call(self, inputs):\n        return inputs / 255.0\n")
    result = run_export([*command, "--custom-objects", tmp_path / "my_layers.py"])
    assert result.exit_code == 0, result.output
    pixels = images["pixels"]
    expected = model.predict(pixels.astype(np.float32), verbose=0).reshape(-1)
    assert np.max(np.abs(file_probabilities(tmp_path / "out" / "custom_fp32.onnx", pixels)[:, 1] - expected)) <= 1e-4
    (tmp_path / "other.py").write_text("def unrelated():\n    return 1\n")
    wrong = run_export([*command, "--custom-objects", tmp_path / "other.py"])
    assert wrong.exit_code == 2 and f"--custom-objects {tmp_path / 'other.py'} does not define it" in wrong.output


@pytest.mark.tf
def test_int8_checked_on_grey_calibration_frames_says_so_and_warns(tmp_path, images):
    import keras

    model = keras.Sequential(small_layers(keras.layers, first=[keras.layers.Rescaling(1 / 255)]))
    model.save(tmp_path / "tiny.keras")
    grey = tmp_path / "grey"
    grey.mkdir()
    for index in range(24):
        Image.new("RGB", SIZE, (128, 128, 128)).save(grey / f"frame_{index}.png")
    command = [tmp_path / "tiny.keras", "--int8", "--format", "tflite", "--labels", "cat,dog", "--calib", grey,
               "--max-drop", "100"]
    result = run_export([*command, "--out", tmp_path / "out"])
    assert result.exit_code == 0, result.output
    assert "warning: 24 of 24 calibration images are near-constant" in result.output
    assert "note: the int8 files were checked on their own calibration images" in result.output
    assert "warning: the source model labels 24 of 24 calibration images" in result.output
    compared = run_export([*command, "--val", images["val"], "--out", tmp_path / "out2"])
    assert compared.exit_code == 0, compared.output
    assert "far from the validation images' statistics" in compared.output
    assert "checked on their own calibration images" not in compared.output


def test_calibration_warnings_only_for_flat_or_unlike_images(tmp_path):
    photos = decode(write_class_folder(tmp_path / "a", per_class=10, size=SIZE, seed=4))[0]
    others = decode(write_class_folder(tmp_path / "b", per_class=10, size=SIZE, seed=5))[0]
    assert calibration_warnings(photos, validation_images=others) == []
    grey = np.full((8, *SIZE, 3), 128, dtype=np.uint8)
    (flat,) = calibration_warnings(np.concatenate([photos[:4], grey]), validation_images=None)
    assert flat.startswith("warning: 8 of 12 calibration images are near-constant")
    (unlike,) = calibration_warnings(photos // 4, validation_images=photos)
    assert "far from the validation images' statistics" in unlike
    assert label_mix_warning(np.array([0, 1] * 10), labels=("cat", "dog")) is None
    assert label_mix_warning(np.array([1] * 19 + [0]), labels=("cat", "dog")).startswith(
        "warning: the source model labels 19 of 20 calibration images 'dog'")
    assert label_mix_warning(np.array([1] * 9), labels=("cat", "dog")) is None  # too few to say


def test_load_messages_keep_their_root_cause():
    nested = ("<class 'Sequential'> could not be deserialized properly. config={" + "'x': 1, " * 400 + "}.\n\n"
              "Exception encountered: Could not locate class 'PixelScale'. Make sure custom classes are decorated")
    assert missing_class(nested) == "PixelScale"
    assert missing_class("Unknown layer: 'PixelScale'. Please ensure you are using a custom_object_scope") == "PixelScale"
    assert missing_class("Cannot deserialize object of type `PixelScale`. If `PixelScale` is custom") == "PixelScale"
    assert innermost_cause(nested).startswith("Could not locate class 'PixelScale'")
    short = shorten_middle(nested, limit=120)
    assert len(short) <= 120 and short.endswith("custom classes are decorated") and " ... " in short
    assert shorten_middle("fits\n  as is") == "fits as is"


def test_a_lambda_layer_refused_by_safe_mode_is_named_with_what_to_do():
    from pathlib import Path

    from catdog.export.load_errors import describe_load_failure

    refusal = ValueError("Requested the deserialization of a `Lambda` layer whose `function` is a Python lambda. "
                         "This carries a potential risk of arbitrary code execution ... `safe_mode=False` ...")
    error = describe_load_failure(Path("lam.keras"), written_by="Keras 3.15.1", custom_objects=None,
                                  attempts=[("Keras 3.15.1", refusal), ("tf_keras 2.21.0", TypeError("batch_shape"))])
    assert str(error).startswith("cannot read model lam.keras (written by Keras 3.15.1): it holds a Lambda layer")
    assert "--custom-objects" in str(error) and "safe_mode" not in str(error)
    assert error.details.splitlines()[0] == f"Keras 3.15.1: {refusal}"
