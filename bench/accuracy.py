"""Accuracy on a labelled folder, and label agreement with the baseline, for K-class models.

The folder holds one subfolder per class, found as training finds them (the seed's
`training_set/` is accepted) and listed with the one file lister (`catdog.runtime.files`).
Classes are sorted by name. A folder class maps to a model label by name when every folder
name is one of the model's labels, else by sorted position when the counts agree (training
names labels after its sorted folders, and the shipped model's cat/dog come from cats/dogs).
Labels are decided by `catdog.runtime.prediction.decide`, as everywhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from catdog.errors import CatdogError
from catdog.runtime.preprocess import load_image
from catdog.runtime.prediction import decide
from catdog.runtime.spec import ModelSpec


def list_labelled_images(data: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Return image paths, their class indices (int64) and the sorted class names of a class folder.

    Raises CatdogError when the folder is missing or has fewer than two classes with images.
    """
    from catdog.runtime.files import is_hidden, list_images
    from catdog.train.data import find_class_folders  # lists folders only: no TensorFlow

    root = find_class_folders(Path(data))
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not is_hidden(entry.name))
    paths: list[Path] = []
    labels: list[int] = []
    found: list[str] = []
    for index, name in enumerate(classes):
        files = list(list_images(root / name).paths)
        found += [name] if files else []
        paths += files
        labels += [index] * len(files)
    if len(found) < 2:
        raise CatdogError(f"--data needs at least two class subfolders with images in {root}, found {found or classes}")
    return paths, np.asarray(labels, dtype=np.int64), classes


def match_classes(class_names: Sequence[str], labels: Sequence[str], *, model: str = "the model") -> np.ndarray:
    """Map each folder class index to the model's label index (an int64 array, one entry per class).

    By name when every class name is a label, else by position when the counts agree.
    Raises CatdogError naming both lists otherwise.
    """
    if set(class_names) <= set(labels):
        return np.asarray([list(labels).index(name) for name in class_names], dtype=np.int64)
    if len(class_names) == len(labels):
        return np.arange(len(labels), dtype=np.int64)
    raise CatdogError(f"--data has {len(class_names)} classes ({', '.join(class_names)}) but {model} has "
                      f"{len(labels)} labels ({', '.join(labels)}): use a folder with one subfolder per label")


def load_images(paths: list[Path], *, spec: ModelSpec) -> np.ndarray:
    """Decode every image with the one preprocessing contract into an (N, H, W, 3) uint8 array."""
    return np.stack([load_image(path, spec=spec) for path in paths])


def predict_in_batches(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, *, batch: int) -> np.ndarray:
    """Return (N, K) float32 probabilities for every image, calling `predict` on slices of at most `batch`."""
    outputs = [np.asarray(predict(images[start:start + batch]), dtype=np.float32)
               for start in range(0, len(images), batch)]
    return np.concatenate([output.reshape(len(output), -1) for output in outputs])


def compute_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose decided label index (`decide` on (N, K)) equals `labels` (N,)."""
    return float(np.mean(decide(probabilities) == np.asarray(labels)))


def compute_agreement(probabilities: np.ndarray, baseline: Optional[np.ndarray]) -> Optional[float]:
    """Fraction of images given the same label as the baseline's (N, K) probabilities.

    None without a baseline, or when the two do not have the same K (different label sets).
    """
    if baseline is None or np.shape(baseline) != np.shape(probabilities):
        return None
    return float(np.mean(decide(probabilities) == decide(baseline)))
