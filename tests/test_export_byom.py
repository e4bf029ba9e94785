"""Bring your own model: `catdog-export` on users' notebook models, each checked end to end.

* The seed notebook's own model (issue 10's acceptance test): the subclassed tf_keras
  MiniResNet exactly as the notebook writes it (ConvNormReluBlock Sequentials, projection
  shortcut and crop, the `return out3` bug), with the one correction that makes its shapes agree
  at 64x64 (crop ((1,1),(1,1))), fitted one short epoch on 0..1 pixels and saved as a SavedModel
  folder; exported int8 + fp32 with --pixel-range 0,1 --labels cat,dog --calib, then `catdog-run`
  (JSON) must give tf_keras's probabilities on the same resized pixels / 255.
* A Sequential tf_keras .h5 with a leading Rescaling layer; a functional .keras with no
  Rescaling and a 3-logit head (refused without --pixel-range); a 96x96 5-class softmax .keras.

Models are tiny and every export runs once, so the module stays within a CI budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.provenance import describe_path
from catdog.export.cli import main
from catdog.export.verify import file_probabilities
from catdog.runtime.cli import main as run_main
from catdog.runtime.metadata import read_metadata
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec

pytestmark = pytest.mark.tf


def colour_images(count: int, *, seed: int, size: tuple[int, int] = (64, 64)) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 noisy images, reddish for label 0 and bluish for label 1, and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    base = np.where(labels[:, None, None, None] == 1, np.array([40, 80, 220]), np.array([220, 90, 40]))
    pixels = np.clip(base + rng.normal(0, 40, (count, *size, 3)), 0, 255).astype(np.uint8)
    return pixels, labels


def write_images(folder: Path, pixels: np.ndarray, *, suffix: str = ".png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"image_{index:03d}{suffix}")
    return folder


def build_seed_model():
    """The seed notebook's MiniResNet, as written there (tf.keras 2.x), with the 64x64 crop fix."""
    import tensorflow as tf
    import tf_keras
    from tf_keras.layers import BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D
    from tf_keras.models import Sequential

    frame_size = (64, 64)

    def ConvNormReluBlock(filters, first_stride):  # noqa: N802 - the notebook's names
        modelo = Sequential()
        pad = 'same' if first_stride == 1 else 'valid'
        modelo.add(Conv2D(filters=filters, kernel_size=(3, 3), padding=pad))
        modelo.add(BatchNormalization())
        modelo.add(tf_keras.layers.ReLU())
        modelo.add(Conv2D(filters=filters, kernel_size=(3, 3), padding='same'))
        modelo.add(BatchNormalization())
        return modelo

    class ResNetBlock(tf_keras.layers.Layer):
        def __init__(self, filters, first_stride):
            super().__init__()
            self.first_stride = first_stride
            self.block1 = ConvNormReluBlock(filters, first_stride)
            self.projection_shortcut = Conv2D(filters=filters, kernel_size=(1, 1))
            # The notebook's ((0,1),(0,1)) gives 9x9 against the block's 8x8 at 64x64.
            self.crop = tf_keras.layers.Cropping2D(cropping=((1, 1), (1, 1)))
            self.relu_endblock1 = tf_keras.layers.ReLU()
            self.block2 = ConvNormReluBlock(filters, 1)
            self.relu_endblock2 = tf_keras.layers.ReLU()
            self.block3 = ConvNormReluBlock(filters, 1)
            self.last_relu = tf_keras.layers.ReLU()

        def call(self, input):  # noqa: A002 - the notebook's names
            out1 = self.block1(input)
            input_mod = input
            if self.first_stride == 2:
                input_mod = self.projection_shortcut(input)
                input_mod = self.crop(input_mod)
            inp2 = tf.math.add(out1, input_mod)
            inp2 = self.relu_endblock1(inp2)
            out2 = self.block2(inp2)
            inp3 = tf.math.add(out2, inp2)
            inp3 = self.relu_endblock2(inp3)
            out3 = self.block3(inp3)
            inp4 = tf.math.add(out3, inp3)
            out = self.last_relu(inp4)  # noqa: F841 - the notebook's bug: out3 is returned
            return out3

    class MiniResNet(tf_keras.Model):
        def __init__(self):
            super().__init__()
            self.firstconv = Conv2D(filters=32, kernel_size=(5, 5), strides=(2, 2))
            self.norm = BatchNormalization()
            self.maxpool = MaxPooling2D(pool_size=(3, 3))
            self.resunit1 = ResNetBlock(32, first_stride=1)
            self.resunit2 = ResNetBlock(64, first_stride=2)
            self.globavgpool = GlobalAveragePooling2D()
            self.lastlayer = Dense(units=1, activation="sigmoid")
            self.build(input_shape=(None, *frame_size, 3))

        def call(self, inputs):
            x = self.firstconv(inputs)
            x = self.norm(x)
            x = self.maxpool(x)
            x = self.resunit1(x)
            x = self.resunit2(x)
            x = self.globavgpool(x)
            x = self.lastlayer(x)
            return x

    return MiniResNet()


@pytest.fixture(scope="module")
def seed_export(tmp_path_factory):
    """The seed model fitted and saved as a SavedModel folder, exported once (int8 + fp32, both formats)."""
    pytest.importorskip("tf_keras")
    import tf_keras

    root = tmp_path_factory.mktemp("seed")
    tf_keras.utils.set_random_seed(0)
    model = build_seed_model()
    train, labels = colour_images(128, seed=0)
    model.compile(optimizer=tf_keras.optimizers.Adam(0.001), loss="binary_crossentropy")
    model.fit(train / 255.0, labels, epochs=1, batch_size=16, verbose=0)
    model.save(root / "seed_model")  # a SavedModel folder: subclassed models cannot be saved as .h5
    calib = write_images(root / "calib", colour_images(200, seed=1)[0])
    result = CliRunner().invoke(main, [str(root / "seed_model"), "--int8", "--fp32", "--pixel-range", "0,1",
                                       "--labels", "cat,dog", "--calib", str(calib), "--out", str(root / "out")])
    return {"root": root, "model": model, "result": result, "out": root / "out"}


def test_seed_notebook_model_has_the_notebooks_parameter_count(seed_export):
    assert seed_export["model"].count_params() == 265_665


def test_seed_notebook_savedmodel_exports_and_runs_like_tf_keras(seed_export):
    result, out = seed_export["result"], seed_export["out"]
    assert result.exit_code == 0, result.output
    assert "source: " + describe_path(seed_export["root"] / "seed_model") in result.output
    assert "the model expects 0..1 (from --pixel-range)" in result.output
    names = sorted(path.name for path in out.iterdir())
    assert names == ["seed_model_fp32.onnx", "seed_model_fp32.tflite", "seed_model_int8.onnx", "seed_model_int8.tflite"]
    # Photos of another size (PNG: every decoder gives the same pixels), resized by catdog-run itself.
    photos = write_images(seed_export["root"] / "photos", colour_images(12, seed=2, size=(80, 72))[0])
    spec = ModelSpec(image_size=(64, 64), labels=("cat", "dog"))
    paths = sorted(photos.iterdir())
    resized = np.stack([load_image(path, spec=spec) for path in paths])
    expected = dict(zip((str(path) for path in paths), seed_export["model"].predict(resized / 255.0, verbose=0).reshape(-1)))
    for name in names:
        metadata = read_metadata(out / name)
        assert metadata["source_pixel_range"] == [0.0, 1.0] and metadata["source_format"] == "savedmodel"
        ran = CliRunner().invoke(run_main, ["--model", str(out / name), "--format", "json", str(photos)])
        assert ran.exit_code == 0, ran.output
        records = [json.loads(line) for line in ran.output.splitlines() if line.startswith("{")]
        assert sorted(record["source"] for record in records) == sorted(expected)
        tolerance = 0.03 if "int8" in name else 1e-4
        for record in records:
            assert set(record["probabilities"]) == {"cat", "dog"}
            assert abs(record["probabilities"]["dog"] - expected[record["source"]]) <= tolerance, (name, record)
        # The same file through the runtime's engine sums to 1 (one output step for int8).
        probabilities = file_probabilities(out / name, resized)
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6 if "fp32" in name else 1 / 128)


def test_sequential_h5_with_rescaling_needs_no_pixel_range(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    layers = tf_keras.layers
    model = tf_keras.Sequential([layers.Input((64, 64, 3)), layers.Rescaling(1 / 255), layers.Conv2D(4, 3, strides=4),
                                 layers.GlobalAveragePooling2D(), layers.Dense(1, activation="sigmoid")])
    model.save(tmp_path / "notebook.h5")
    result = CliRunner().invoke(main, [str(tmp_path / "notebook.h5"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "leading Rescaling layer" in result.output and "warning: no labels given" in result.output
    pixels = colour_images(6, seed=3)[0]
    expected = model.predict(pixels.astype(np.float32), verbose=0).reshape(-1)
    for name in ("notebook_fp32.tflite", "notebook_fp32.onnx"):
        assert read_metadata(tmp_path / "out" / name)["labels"] == ["class_0", "class_1"]
        assert np.max(np.abs(file_probabilities(tmp_path / "out" / name, pixels)[:, 1] - expected)) <= 1e-4


def test_functional_logits_without_rescaling_is_refused_then_right_with_pixel_range(tmp_path):
    import keras

    inputs = keras.Input((64, 64, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(features))  # linear: logits
    model.save(tmp_path / "logits.keras")
    refused = CliRunner().invoke(main, [str(tmp_path / "logits.keras"), "--out", str(tmp_path / "out")])
    assert refused.exit_code == 2 and "--pixel-range 0,1" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    result = CliRunner().invoke(main, [str(tmp_path / "logits.keras"), "--pixel-range", "-1,1",
                                       "--labels", "red,green,blue", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "the model gives logits (3 units, from the model's last layer)" in result.output
    pixels = colour_images(6, seed=4)[0]
    logits = np.asarray(model.predict(pixels / 127.5 - 1.0, verbose=0), dtype=np.float64)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for name in ("logits_fp32.tflite", "logits_fp32.onnx"):
        metadata = read_metadata(tmp_path / "out" / name)
        assert metadata["source_output"] == "logits" and metadata["model_spec"]["output"] == "softmax"
        assert np.max(np.abs(file_probabilities(tmp_path / "out" / name, pixels) - expected)) <= 1e-4


def test_96x96_five_class_softmax_and_label_count_mismatch(tmp_path):
    import keras

    inputs = keras.Input((96, 96, 3))
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=4)(scaled))
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(features))
    model.save(tmp_path / "five.keras")
    mismatch = CliRunner().invoke(main, [str(tmp_path / "five.keras"), "--labels", "a,b", "--out", str(tmp_path / "o")])
    assert mismatch.exit_code == 2 and "2 labels (a, b) for a model with 5 classes" in mismatch.output
    labels = "a,b,c,d,e"
    result = CliRunner().invoke(main, [str(tmp_path / "five.keras"), "--format", "tflite", "--labels", labels,
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "five_fp32.tflite"
    metadata = read_metadata(path)
    assert metadata["model_spec"]["image_size"] == [96, 96] and metadata["labels"] == labels.split(",")
    pixels = colour_images(4, seed=5, size=(96, 96))[0]
    expected = model.predict(pixels.astype(np.float32), verbose=0)
    assert np.max(np.abs(file_probabilities(path, pixels) - expected)) <= 1e-4
    again = CliRunner().invoke(main, [str(tmp_path / "five.keras"), "--format", "tflite", "--labels", labels,
                                      "--out", str(tmp_path / "out")])
    assert again.exit_code == 0, again.output  # same source model: replacing its own export is fine


def test_keras3_export_savedmodel_with_undefined_size_needs_image_size(tmp_path):
    import keras

    inputs = keras.Input((None, None, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(features))
    model.export(tmp_path / "exported_model", verbose=False)  # a SavedModel folder Keras 3 itself cannot load
    command = [str(tmp_path / "exported_model"), "--format", "tflite", "--pixel-range", "0,255", "--labels", "no,yes",
               "--out", str(tmp_path / "out")]
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code == 2 and "pass --image-size" in refused.output
    result = CliRunner().invoke(main, [*command, "--image-size", "40x48"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "exported_model_fp32.tflite"
    assert read_metadata(path)["model_spec"]["image_size"] == [40, 48]
    pixels = colour_images(3, seed=6, size=(40, 48))[0]
    expected = model.predict(pixels.astype(np.float32), verbose=0)
    assert np.max(np.abs(file_probabilities(path, pixels) - expected)) <= 1e-4


def test_tiny_model_without_scaling_hears_about_pixel_range_first_then_exports_int8_on_few_images(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=4)(inputs))
    keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(features)).save(tmp_path / "tiny.keras")
    out = tmp_path / "out"
    # No --calib and no --pixel-range: the pixel range, which needs no photos, is asked for first.
    refused = CliRunner().invoke(main, [str(tmp_path / "tiny.keras"), "--int8", "--out", str(out)])
    assert refused.exit_code == 2 and "--pixel-range 0,1" in refused.output and "--calib" not in refused.output
    calib = write_images(tmp_path / "calib", colour_images(30, seed=5, size=(32, 32))[0])
    result = CliRunner().invoke(main, [str(tmp_path / "tiny.keras"), "--int8", "--format", "tflite", "--pixel-range",
                                       "0,1", "--calib", str(calib), "--max-drop", "100", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning: calibrating int8 on only 30 images (fewer than 200)" in result.output
    assert "warning: the check is coarse: only 30 unlabelled check images" in result.output
    assert (out / "tiny_int8.tflite").is_file()
