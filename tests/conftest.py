"""Shared fixtures: tiny generated photo folders, so no test needs the real dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog.runtime.spec import ModelSpec

# The shipped default's contract, for tests that decode photos as catdog's 64x64 models do.
CATDOG_SPEC = ModelSpec(image_size=(64, 64), labels=("cat", "dog"))


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
