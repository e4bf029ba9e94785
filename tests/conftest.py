"""Shared fixtures and builders: tiny generated photo folders and ONNX models, so no test needs the real
dataset and no test module imports another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog.runtime.spec import ModelSpec

# The shipped default's contract, for tests that decode photos as catdog's 64x64 models do.
CATDOG_SPEC = ModelSpec(image_size=(64, 64), labels=("cat", "dog"))


def save_onnx_graph(graph, path: Path, *, metadata: dict | None = None) -> Path:
    """Save an `onnx.helper.make_graph` graph as a small opset-13 model, with a "catdog" metadata entry if given.

    ir_version 8 keeps the file loadable by every onnxruntime catdog supports.
    """
    import json

    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = "catdog", json.dumps(metadata)
    onnx.save(model, str(path))
    return Path(path)


# The tiny two-class ONNX model's logit per unit of mean(blue) - mean(red), in raw 0..255 pixels.
SLOPE = 0.05


def catdog_metadata(*, spec: ModelSpec = CATDOG_SPEC, input_dtype: str = "float32",
                    precision: str = "fp32") -> dict:
    """The metadata document an exported model carries (see the shared interfaces)."""
    return {"schema": 2, "labels": list(spec.labels), "model_spec": spec.to_dict(),
            "input": {"name": "image", "dtype": input_dtype, "shape": [None, 64, 64, 3], "layout": "NHWC",
                      "quantization": None},
            "output": {"meaning": "probability of labels[1]", "dtype": "float32", "quantization": None},
            "format": "onnx", "precision": precision, "source_sha256": "0" * 64, "export_options": {},
            "catdog_version": "0.1.0"}


def build_onnx_model(path: Path, *, metadata: dict | None = None, input_dtype: str = "float32",
                     size: int = 64) -> Path:
    """Write a tiny ONNX model: sigmoid(SLOPE * (mean blue - mean red)), NHWC input of raw pixels."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    element = TensorProto.UINT8 if input_dtype == "uint8" else TensorProto.FLOAT
    nodes, source = [], "image"
    if input_dtype == "uint8":
        nodes.append(helper.make_node("Cast", ["image"], ["image_float"], to=TensorProto.FLOAT))
        source = "image_float"
    nodes += [
        helper.make_node("ReduceMean", [source], ["means"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["means", "weights"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    weights = numpy_helper.from_array(np.array([[-SLOPE], [0.0], [SLOPE]], dtype=np.float32), "weights")
    graph = helper.make_graph(
        nodes, "tiny_catdog",
        [helper.make_tensor_value_info("image", element, [None, size, size, 3])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, [None, 1])],
        initializer=[weights])
    return save_onnx_graph(graph, path, metadata=metadata)


def expected_probability(pixels: np.ndarray) -> float:
    """What the tiny model should answer for one (H, W, 3) array."""
    means = pixels.reshape(-1, 3).astype(np.float64).mean(axis=0)
    return float(1.0 / (1.0 + np.exp(-SLOPE * (means[2] - means[0]))))


FRUIT = ("apple", "banana", "cherry")  # labels of the 3-class test model: red, green, blue images
FRUIT_SPEC = ModelSpec(image_size=(48, 48), labels=FRUIT, output="softmax")
COLOURS = ((220, 30, 20), (20, 210, 30), (25, 30, 230))


def spec_metadata(spec: ModelSpec, **extra) -> dict:
    """Schema-2 metadata of an exported K-class file (K probabilities in label order)."""
    return {"schema": 2, "labels": list(spec.labels), "model_spec": spec.to_dict(), "format": "onnx",
            "precision": "fp32", "source_sha256": "0" * 64, "export_options": {}, "catdog_version": "0.2.0", **extra}


def build_softmax_onnx(path: Path, *, metadata: dict | None = None, batch: int | None = None, size: int = 48,
                       classes: int = 3, input_shape: list | None = None, element: int | None = None) -> Path:
    """Write a K-class ONNX model: softmax(SLOPE * mean of each colour channel), one class per channel.

    `batch` fixes the batch dimension (None leaves it dynamic); `input_shape`/`element`
    override the input tensor, for models that cannot take an RGB image.
    """
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    channels = (input_shape or [None, size, size, 3])[-1]
    weights = np.zeros((channels, classes), dtype=np.float32)
    for index in range(classes):
        weights[index % channels, index] = SLOPE
    nodes = [helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["pixels"], ["means"], axes=[1, 2], keepdims=0),
             helper.make_node("MatMul", ["means", "weights"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(
        nodes, "tiny_fruit",
        [helper.make_tensor_value_info("image", element or TensorProto.FLOAT, input_shape or [batch, size, size, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, classes])],
        initializer=[numpy_helper.from_array(weights, "weights")])
    return save_onnx_graph(graph, path, metadata=metadata)


def write_colour_images(folder: Path, *, count: int, size: tuple[int, int] = (40, 30)) -> list[Path]:
    """Write `count` PNGs cycling red, green, blue (image i belongs to class i % 3)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 40, size=(size[1], size[0], 3)) + np.array(COLOURS[index % 3]) * 0.8
        path = folder / f"img{index}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def write_class_folder(root: Path, *, per_class: int = 8, size: tuple[int, int] = (80, 60), seed: int = 0) -> Path:
    """Write `root/cats` and `root/dogs` with simple, learnable synthetic photos.

    Cats are reddish with a dark left half, dogs bluish with a dark right half, plus noise,
    so a few epochs can separate them and accuracy-based checks mean something.
    """
    rng = np.random.default_rng(seed)
    for label, name in enumerate(("cats", "dogs")):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            width, height = size
            pixels = rng.integers(0, 60, size=(height, width, 3)).astype(np.int16)
            pixels[..., 0 if label == 0 else 2] += 150
            half = slice(0, width // 2) if label == 0 else slice(width // 2, width)
            pixels[:, half] //= 3
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{name[:-1]}.{index}.jpg", quality=92)
    return root


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """A two-class folder of 8 + 8 small JPEGs."""
    return write_class_folder(tmp_path / "photos")


# One clearly different colour per class, so a couple of epochs can tell K classes apart.
CLASS_COLOURS = ((220, 40, 40), (230, 210, 40), (40, 60, 220), (40, 200, 60), (200, 40, 200), (40, 200, 200))


def write_colour_classes(root: Path, *, classes: tuple[str, ...], per_class: int = 8,
                         size: tuple[int, int] = (56, 48), seed: int = 0) -> Path:
    """Write `root/<class>/` folders of small noisy JPEGs, each class one colour (CLASS_COLOURS,
    in the order given), for tests of K-class training with the user's own labels."""
    rng = np.random.default_rng(seed)
    width, height = size
    for index, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        colour = np.array(CLASS_COLOURS[index % len(CLASS_COLOURS)], dtype=np.int16)
        for number in range(per_class):
            pixels = colour + rng.integers(-30, 30, size=(height, width, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / f"{name}_{number}.jpg", quality=92)
    return root
