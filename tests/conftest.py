"""Shared fixtures: tiny generated photo folders, so no test needs the real dataset."""

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
