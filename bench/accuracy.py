"""Accuracy on a labelled folder, and label agreement with the baseline.

The folder holds one subfolder per class; classes are sorted by name and a class's label
index is its sorted position (cats = 0, dogs = 1), as in training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec

def list_labelled_images(data: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Return image paths, their integer labels and the sorted class names of a class folder.

    The folder is read exactly as training reads one (`catdog.train.data`, which needs no
    TensorFlow to list files), so a label here means what it meant there.
    """
    from catdog.train.data import list_labelled_files

    files = list_labelled_files(Path(data))
    return list(files.paths), np.asarray(files.labels, dtype=np.int64), list(files.class_names)


def load_images(paths: list[Path], *, spec: ModelSpec) -> np.ndarray:
    """Decode every image with the one preprocessing contract into an (N, H, W, 3) uint8 array."""
    return np.stack([load_image(path, spec=spec) for path in paths])


def predict_in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, *, batch: int) -> np.ndarray:
    """Return P(dog) for every image, calling `predict` on slices of at most `batch` images."""
    outputs = [np.asarray(predict(images[start:start + batch])).reshape(-1)
               for start in range(0, len(images), batch)]
    return np.concatenate(outputs).astype(np.float32)


def compute_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose thresholded P(dog) (>= 0.5 is a dog) matches the label."""
    return float(np.mean((probabilities >= 0.5).astype(np.int64) == labels))


def compute_agreement(probabilities: np.ndarray, baseline: Optional[np.ndarray]) -> Optional[float]:
    """Fraction of images given the same label as the baseline, or None without a baseline."""
    if baseline is None:
        return None
    return float(np.mean((probabilities >= 0.5) == (baseline >= 0.5)))
