"""Tests for catdog.export: CLI, verified fp32/int8 TFLite and ONNX exports, failures and errors.

A random-weights MiniResNet and tiny generated photo folders stand in for the real model and
data. Random weights put most P(dog) near one value, so int8 label flips are likely: the int8
tests loosen --max-drop and check structure, while the fp32 tests keep the real thresholds.
"""

from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import CATDOG_SPEC
from catdog.errors import CatdogError
from catdog.provenance import describe_path
from catdog.export import verify
from catdog.export.cli import main
from catdog.export.config import ExportConfig
from catdog.runtime.cpu import cpu_class
from catdog.runtime.metadata import read_metadata, read_standard_labels


def write_photos(folder: Path, *, count: int, seed: int, size: tuple[int, int] = (72, 64)) -> Path:
    """Write `count` small noisy JPEGs (a bright or dark tint per image, so inputs vary)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        pixels[: size[1] // 2] //= 1 + index % 4
        Image.fromarray(pixels).save(folder / f"photo_{index:03d}.jpg", quality=85)
    return folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """A random-weights model.keras, a 200-image calibration folder and a 2 x 12 validation folder."""
    from catdog.train.model import build_model

    root = tmp_path_factory.mktemp("export")
    model_path = root / "model.keras"
    build_model(image_size=(64, 64), seed=1).save(model_path)
    # The card a training run writes beside its model names the model's labels.
    (root / "card.json").write_text(json.dumps({"model_spec": CATDOG_SPEC.to_dict()}))
    write_photos(root / "calib", count=200, seed=2, size=(64, 64))
    write_photos(root / "val" / "cats", count=12, seed=3)
    write_photos(root / "val" / "dogs", count=12, seed=4)
    return {"root": root, "model": model_path, "calib": root / "calib", "val": root / "val"}


def test_help_lists_every_option():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in ("MODEL", "--int8", "--fp16", "--dynamic", "--fp32", "--format", "--calib", "--val", "--out",
                   "--max-drop", "--pixel-range", "--labels", "--output", "--image-size", "--force", "--verbose", "--tta"):
        assert option in result.output


def test_no_precision_flag_means_fp32_and_flags_combine():
    assert ExportConfig().precisions() == ("fp32",)
    assert ExportConfig(int8=True, fp32=True).precisions() == ("fp32", "int8")
    assert ExportConfig().formats() == ("tflite", "onnx")


def test_missing_model_exits_2(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path / "nope.keras"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "model not found" in result.output


def test_fp16_for_onnx_only_exits_2_naming_the_fix(tmp_path):
    result = CliRunner().invoke(main, [str(tmp_path / "x.keras"), "--fp16", "--format", "onnx"])
    assert result.exit_code == 2
    assert "not supported for onnx" in result.output


def test_unwritable_output_folder_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    result = CliRunner().invoke(main, [str(model), "--out", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "cannot write to output folder" in result.output


@pytest.mark.tf
def test_unreadable_model_exits_2(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"this is not a zip archive")
    result = CliRunner().invoke(main, [str(model), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "is not a Keras model file" in result.output and "not a zip archive" in result.output


@pytest.mark.tf
def test_model_that_is_not_an_image_classifier_exits_2(tmp_path):
    import keras

    model = tmp_path / "tabular.keras"
    keras.Sequential([keras.Input((10,)), keras.layers.Dense(1, activation="sigmoid")]).save(model)
    result = CliRunner().invoke(main, [str(model), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "not an NHWC RGB image model" in result.output


@pytest.mark.tf
def test_empty_calibration_folder_exits_2(workspace, tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no images here")
    result = CliRunner().invoke(main, [str(workspace["model"]), "--int8", "--calib", str(empty),
                                       "--val", str(workspace["val"]), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "holds no readable images" in result.output


@pytest.mark.tf
def test_fp32_and_int8_export_verifies_is_all_integer_and_carries_metadata(workspace, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(workspace["model"]), "--fp32", "--int8", "--calib", str(workspace["calib"]),
                                       "--val", str(workspace["val"]), "--out", str(out), "--max-drop", "100"])
    assert result.exit_code == 0, result.output
    stem = workspace["root"].name  # a model.keras inside a run folder is named after the folder
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(f"{stem}_{precision}.{ext}" for precision in ("fp32", "int8") for ext in ("onnx", "tflite"))
    assert "| tflite | int8 |" in result.output and "delta vs source" in result.output
    assert "labels: cat, dog (from the training card)" in result.output
    assert f"catdog-run --model {out}" in result.output
    for name in names:
        metadata = read_metadata(out / name)
        assert metadata["labels"] == ["cat", "dog"]
        assert metadata["model_spec"]["output"] == "softmax" and metadata["model_spec"]["pixel_range"] == [0.0, 255.0]
        assert metadata["source_output"] == "sigmoid" and metadata["source_model"] == describe_path(workspace["model"]) == workspace["model"].name
        assert metadata["input"]["shape"] == [None, 64, 64, 3] and metadata["output"]["shape"] == [None, 2]
        assert len(metadata["source_sha256"]) == 64
        assert metadata["format"] == name.rsplit(".", 1)[1] and metadata["precision"] in name
        assert metadata["verified_cpu_classes"] == [cpu_class()]
    assert f"verified on CPU class: {cpu_class()} (" in result.output
    from catdog.export.onnx_export import INT8_RECIPE

    assert read_metadata(out / f"{stem}_int8.onnx")["quantization"] == INT8_RECIPE.to_dict()
    assert "quantization" not in read_metadata(out / f"{stem}_int8.tflite")
    int8_path = out / f"{stem}_int8.tflite"
    int8 = read_metadata(int8_path)
    assert int8["input"]["dtype"] == "uint8" and int8["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    # [1 - p, p] is pinned to the LOGISTIC kernel's grid, not to the largest probability calibration saw.
    assert int8["output"]["quantization"] == {"scale": 1 / 256, "zero_point": 0}
    assert read_standard_labels(int8_path.read_bytes()) == ["cat", "dog"]
    assert verify.check_int8_tflite(int8_path) is None  # uint8 scale-1 input, no float tensor left
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(out / f"{stem}_int8.onnx"), providers=["CPUExecutionProvider"])
    properties = session.get_modelmeta().custom_metadata_map
    assert json.loads(properties["labels"]) == ["cat", "dog"] and properties["output"] == "softmax"
    assert json.loads(properties["catdog"]) == read_metadata(out / f"{stem}_int8.onnx")
    probabilities = verify.file_probabilities(out / f"{stem}_fp32.tflite", np.zeros((3, 64, 64, 3), np.uint8))
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.tf
def test_flip_tta_is_folded_into_the_exported_graph(workspace, tmp_path):
    import keras

    from catdog.runtime.engine import open_engine

    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(workspace["model"]), "--fp32", "--format", "tflite", "--tta", "flip",
                                       "--val", str(workspace["val"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "test-time augmentation: flip" in result.output
    (path,) = out.glob("*_flip_fp32.tflite")  # named after the run folder, with the TTA suffix
    assert read_metadata(path)["test_time_augmentation"] == "flip"
    images = np.random.default_rng(5).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    model = keras.models.load_model(workspace["model"], compile=False)
    plain = np.asarray(model(images.astype(np.float32), training=False)).reshape(-1)
    mirrored = np.asarray(model(images[:, :, ::-1].astype(np.float32), training=False)).reshape(-1)
    expected = (plain + mirrored) / 2
    probabilities = open_engine(path).predict(images)
    np.testing.assert_allclose(probabilities[:, 1], expected, atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.tf
def test_onnx_crash_leaves_no_tflite_and_names_the_step(workspace, tmp_path, monkeypatch):
    from catdog.export import onnx_export

    def crash(function):
        raise KeyError("keras_tensor_5")

    monkeypatch.setattr(onnx_export, "convert_to_onnx", crash)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(workspace["model"]), "--val", str(workspace["val"]), "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == \
        "Error: onnx conversion (tf2onnx) failed: KeyError: 'keras_tensor_5'"
    assert "Traceback" not in result.output
    assert [path.name for path in out.iterdir()] == []  # the verified TFLite was not kept either


@pytest.mark.tf
def test_existing_file_from_another_model_needs_force(workspace, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"{workspace['root'].name}_fp32.onnx"
    stale.write_bytes(b"an older export of something else")
    result = CliRunner().invoke(main, [str(workspace["model"]), "--format", "onnx", "--out", str(out)])
    assert result.exit_code == 2
    assert "--force" in result.output and str(stale) in result.output
    assert stale.read_bytes() == b"an older export of something else"


@pytest.mark.tf
def test_failed_verification_writes_nothing_and_exits_1(workspace, tmp_path, monkeypatch):
    out = tmp_path / "out"
    # No model can agree with its source on more than 100% of labels.
    monkeypatch.setitem(verify.FLOAT_THRESHOLDS, "fp32", (1.01, 1e-3))
    result = CliRunner().invoke(main, [str(workspace["model"]), "--format", "tflite", "--val", str(workspace["val"]),
                                       "--out", str(out)])
    assert result.exit_code == 1
    assert "label agreement" in result.output and "no file was written" in result.output
    assert list(out.iterdir()) == []


def test_compare_reports_int8_accuracy_drop_and_unlabelled_agreement():
    reference = np.array([[0.1, 0.9], [0.9, 0.1], [0.2, 0.8], [0.8, 0.2]], dtype=np.float32)
    labels = np.array([1, 0, 1, 0])
    worse = np.array([[0.1, 0.9], [0.4, 0.6], [0.2, 0.8], [0.8, 0.2]], dtype=np.float32)
    check = verify.compare(worse, reference=reference, labels=labels, precision="int8", max_drop=1.0)
    assert check.failure is not None and "25.00 points below" in check.failure
    assert check.delta_points == pytest.approx(-25.0)
    unlabelled = verify.compare(worse, reference=reference, labels=None, precision="int8", max_drop=1.0)
    assert unlabelled.accuracy is None and "agreement with the source model 75.00%" in unlabelled.failure
    same = verify.compare(reference, reference=reference, labels=labels, precision="fp32", max_drop=1.0)
    assert same.failure is None and same.agreement == 1.0


def test_a_tie_goes_to_the_later_label():
    from catdog.runtime.prediction import decide

    assert decide(np.array([[0.5, 0.5], [0.6, 0.4]])).tolist() == [1, 0]
    assert decide(np.array([[0.2, 0.4, 0.4]])).tolist() == [2]


def test_library_rejects_empty_plan():
    from catdog.export.pipeline import plan_jobs

    with pytest.raises(CatdogError, match="nothing to export"):
        plan_jobs(ExportConfig(dynamic=True, format="onnx"))


def test_shipped_samples_script_writes_images_at_the_models_size(tmp_path):
    from catdog.export.samples import shipped_spec, write_samples
    from catdog.runtime.spec import ModelSpec
    from conftest import write_class_folder

    data = write_class_folder(tmp_path / "data", per_class=10)
    spec = ModelSpec(image_size=(24, 32), labels=("cats", "dogs"))
    sizes = write_samples(data, calibration_count=4, validation_per_class=1, val_fraction=0.2, out_dir=tmp_path / "out",
                          spec=spec)
    assert sizes["calibration_images"] == 4 and sizes["validation_images"] == 2
    written = sorted((tmp_path / "out").rglob("*.jpg"))
    assert len(written) == 6 and {Image.open(path).size for path in written} == {(32, 24)}
    shipped = shipped_spec()  # the shipped card's contract sizes the shipped samples
    from catdog.export.loaders import default_model_path
    from catdog.runtime.spec import read_card

    # The shipped default keeps the seed's 64x64 input, and its labels are its training folders' names.
    card = read_card(default_model_path())
    assert shipped.image_size == CATDOG_SPEC.image_size and shipped.labels == tuple(card["data"]["classes"])


def test_int8_onnx_keeps_the_head_float_so_probabilities_are_not_clipped_to_calibration(tmp_path):
    """Calibrated on unsure images, a quantized sigmoid could never say more than their largest P."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    from onnx import TensorProto, helper, numpy_helper

    from catdog.export.onnx_export import find_head_nodes, quantize_onnx_int8
    from catdog.runtime.engine import open_engine

    slope = 0.05  # logit per unit of mean(blue) - mean(red)
    # A quantized body (an identity 1x1 conv), then the head: mean colour -> dense -> sigmoid -> [1 - p, p].
    nodes = [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "kernel"], ["features"], name="body"),
             helper.make_node("ReduceMean", ["features"], ["means"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["means", "weights"], ["logit"], name="dense"),
             helper.make_node("Sigmoid", ["logit"], ["dog"], name="sigmoid"),
             helper.make_node("Sub", ["one", "dog"], ["cat"], name="one_minus"),
             helper.make_node("Concat", ["cat", "dog"], ["probabilities"], axis=1, name="concat")]
    initializers = [numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "kernel"),
                    numpy_helper.from_array(np.array([[-slope], [0.0], [slope]], np.float32), "weights"),
                    numpy_helper.from_array(np.ones((1, 1), np.float32), "one")]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 8, 8, 3])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
                              initializer=initializers)
    fp32 = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    fp32.ir_version = 8
    assert sorted(find_head_nodes(fp32.graph)) == ["concat", "dense", "one_minus", "sigmoid"]
    # Grey photos of every brightness with a slight tint: P(dog) stays within about 0.12..0.88.
    rng = np.random.default_rng(0)
    grey = rng.uniform(0, 215, size=(200, 1, 1, 1)) + rng.uniform(0, 40, size=(200, 1, 1, 3))
    calibration = np.broadcast_to(grey, (200, 8, 8, 3)).astype(np.uint8)
    int8 = quantize_onnx_int8(fp32, calibration_images=calibration)
    assert "QuantizeLinear" in {node.op_type for node in int8.graph.node}  # the body is quantized
    onnx.save(int8, tmp_path / "int8.onnx")
    engine = open_engine(tmp_path / "int8.onnx")
    blue_then_red = np.zeros((2, 8, 8, 3), np.uint8)
    blue_then_red[0, ..., 2], blue_then_red[1, ..., 0] = 255, 255
    probabilities = engine.predict(blue_then_red)
    assert probabilities[0, 1] > 0.999 and probabilities[1, 0] > 0.999  # fp32 says 0.999997 for both


# --- fresh-user trial: calibration count, coarse checks, help text -------------------------------


def test_few_calibration_images_warn_once_when_loaded_and_none_is_an_error(tmp_path):
    from catdog.export.pipeline import load_calibration

    write_photos(tmp_path / "calib", count=54, seed=5, size=(64, 64))
    config = ExportConfig(model=tmp_path / "tiny.keras", int8=True, calib=tmp_path / "calib")
    logged = []
    images, source = load_calibration(config, model_path=config.model, spec=CATDOG_SPEC, shipped=False,
                                      required=True, log=logged.append)
    assert images.shape == (54, 64, 64, 3) and "54 images" in source
    assert logged == ["warning: calibrating int8 on only 54 images (fewer than 200): ranges may be off; "
                      "pass --calib DIR with more photos like the ones the model will see"]
    logged.clear()  # not calibrating int8: the same images draw no warning
    load_calibration(config, model_path=config.model, spec=CATDOG_SPEC, shipped=False, required=False,
                     log=logged.append)
    assert logged == []
    with pytest.raises(CatdogError, match="pass --calib DIR"):
        load_calibration(ExportConfig(model=tmp_path / "tiny.keras", int8=True), model_path=tmp_path / "tiny.keras",
                         spec=CATDOG_SPEC, shipped=False, required=True, log=logged.append)


def test_converters_calibrate_on_few_images_and_refuse_only_none():
    pytest.importorskip("onnxruntime.quantization")
    from onnx import TensorProto, helper, numpy_helper

    from catdog.export.onnx_export import quantize_onnx_int8
    from catdog.export.tflite import convert_to_tflite

    nodes = [helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "kernel"], ["features"], name="body"),
             helper.make_node("ReduceMean", ["features"], ["means"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["means", "weights"], ["logits"], name="dense"),
             helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax")]
    initializers = [numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "kernel"),
                    numpy_helper.from_array(np.array([[-0.05, 0.05], [0, 0], [0.05, -0.05]], np.float32), "weights")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 8, 8, 3])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
                              initializer=initializers)
    fp32 = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    fp32.ir_version = 8
    few = np.random.default_rng(0).integers(0, 256, size=(12, 8, 8, 3), dtype=np.uint8)
    int8 = quantize_onnx_int8(fp32, calibration_images=few)
    assert "QuantizeLinear" in {node.op_type for node in int8.graph.node}
    with pytest.raises(CatdogError, match="got none"):
        quantize_onnx_int8(fp32, calibration_images=few[:0])
    with pytest.raises(CatdogError, match="got none"):
        convert_to_tflite(lambda: None, precision="int8", calibration_images=None)


@pytest.mark.parametrize("count, labelled, expected", [
    (54, True, "only 54 labelled validation images, so one image is worth 1.9 points of accuracy"),
    (4, False, "only 4 unlabelled check images, so one image is worth 25.0 points of agreement with the source model"),
])
def test_fewer_than_100_check_images_warn_that_the_check_is_coarse(count, labelled, expected):
    warning = verify.coarse_check_warning(count, labelled=labelled)
    assert warning.startswith("warning: the check is coarse") and expected in warning and "--val DIR" in warning
    assert "\n" not in warning
    assert verify.coarse_check_warning(100, labelled=labelled) is None


def test_help_shows_image_size_metavar_and_full_stops_before_defaults():
    output = CliRunner().invoke(main, ["--help"], terminal_width=400).output
    assert "--image-size N|HxW" in output
    assert "0,255 for raw.  [default: the card" in output


def test_a_run_trained_with_a_val_folder_is_checked_on_it_and_calibrated_on_all_its_training_photos(tmp_path):
    from conftest import write_class_folder
    from catdog.export.calibration import card_calibration_paths, load_validation_set

    train_folder = write_class_folder(tmp_path / "my_photos", per_class=6)
    val_folder = write_class_folder(tmp_path / "held", per_class=3, seed=1)
    run = tmp_path / "run"
    run.mkdir()
    model_path = run / "model.keras"
    card = {"model_spec": CATDOG_SPEC.to_dict(), "config": {"data": "my_photos", "val": "held", "val_split": 0.1},
            "data": {"folder": "my_photos", "method": "folder", "val": "held"}}
    (run / "card.json").write_text(json.dumps(card))
    # The card names the folders without their paths; the run's checkpoint state holds this machine's.
    (run / "checkpoint").mkdir()
    (run / "checkpoint" / "state.json").write_text(json.dumps(
        {"data_folder": str(train_folder), "val_folder": str(val_folder)}))

    validation = load_validation_set(None, model_path=model_path, spec=CATDOG_SPEC, shipped=False)
    assert len(validation.images) == 6 and validation.source.startswith("validation folder held")
    paths, source = card_calibration_paths(model_path)
    assert len(paths) == 12 and all(train_folder in path.parents for path in paths)
    assert source.startswith("training folder my_photos")

    # Its validation folder gone, such a run is never checked on a split of its training photos.
    (run / "checkpoint" / "state.json").write_text(json.dumps({"data_folder": str(train_folder)}))
    assert load_validation_set(None, model_path=model_path, spec=CATDOG_SPEC, shipped=False) is None
