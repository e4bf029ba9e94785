"""Scoring a trained model on the cached validation arrays: accuracy and unsmoothed cross-entropy.

Outputs become (N, K) probabilities and labels are decided exactly as the runtime does
(`catdog.runtime.engine.as_class_probabilities`, `catdog.runtime.prediction.decide`): argmax
over the K probabilities, ties to the later index, so two classes give labels[1] when p >= 0.5,
as Keras's BinaryAccuracy counts during training.
"""

from __future__ import annotations

import numpy as np

from catdog.runtime.engine import as_class_probabilities
from catdog.runtime.prediction import decide


def predict_probabilities(model, images) -> np.ndarray:
    """(N, K) float64 class probabilities of a Keras `model` on (N, H, W, 3) uint8 `images`, in batches of 256
    (a sigmoid model's (N, 1) output becomes [1 - p, p])."""
    outputs = np.concatenate([model.predict_on_batch(np.asarray(images[start:start + 256], np.float32))
                              for start in range(0, len(images), 256)])
    return as_class_probabilities(outputs, num_classes=max(2, outputs.shape[1])).astype(np.float64)


def score(probabilities, labels) -> tuple[float, float]:
    """Accuracy and plain (unsmoothed) cross-entropy of (N, K) `probabilities` against (N,) class indices."""
    truth = np.asarray(labels).astype(int)
    picked = np.clip(probabilities[np.arange(len(truth)), truth], 1e-7, 1.0)
    return float(np.mean(decide(probabilities) == truth)), float(-np.mean(np.log(picked)))


def evaluate(model, images, labels) -> tuple[float, float]:
    """Accuracy and plain (unsmoothed) cross-entropy of `model` on cached arrays.

    `images` is (N, H, W, 3) uint8, `labels` (N,) class indices.
    """
    return score(predict_probabilities(model, images), labels)
