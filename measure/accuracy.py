"""Accuracy on a labelled folder, and label agreement with the baseline, for K-class models.

The folder holds one subfolder per class, listed by training's own lister (the seed's
`training_set/` is accepted; an empty class folder is refused, as training refuses it).
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

    Training's own lister (`catdog.train.data.list_labelled_files`, which imports no TensorFlow),
    so bench reads a folder exactly as training does. Raises CatdogError (one line) when the
    folder is missing, has fewer than two class subfolders, or has a class folder without images.
    """
    from catdog.train.data import list_labelled_files

    files = list_labelled_files(Path(data))
    return list(files.paths), np.asarray(files.labels, dtype=np.int64), list(files.class_names)


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
