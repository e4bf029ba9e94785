"""Scoring a trained model on the cached validation arrays: accuracy and unsmoothed cross-entropy.

Labels are decided as everywhere in catdog (INTERFACES item 3, `catdog.runtime.prediction.decide`):
argmax over the K probabilities, ties to the later index, so two classes give labels[1] when
p >= 0.5, exactly as Keras's BinaryAccuracy counts during training.
"""

from __future__ import annotations

import numpy as np


def class_probabilities(outputs: np.ndarray) -> np.ndarray:
    """(N, K) probabilities in label order from a model's (N, 1) sigmoid or (N, K) softmax output."""
    outputs = np.asarray(outputs, dtype=np.float64)
    return np.concatenate([1.0 - outputs, outputs], axis=1) if outputs.shape[1] == 1 else outputs


def decide(probabilities: np.ndarray) -> np.ndarray:
    """Label indices: argmax with ties going to the later index, as `p >= 0.5` does for two classes
    (the same rule as catdog.runtime.prediction.decide, INTERFACES item 3)."""
    last = probabilities.shape[1] - 1
    return last - np.argmax(probabilities[:, ::-1], axis=1)


def evaluate(model, images, labels) -> tuple[float, float]:
    """Accuracy and plain (unsmoothed) cross-entropy of `model` on cached arrays.

    `images` is (N, H, W, 3) uint8, `labels` (N,) class indices.
    """
    outputs = np.concatenate([model.predict_on_batch(np.asarray(images[start:start + 256], np.float32))
                              for start in range(0, len(labels), 256)])
    probabilities = class_probabilities(outputs)
    truth = np.asarray(labels).astype(int)
    picked = np.clip(probabilities[np.arange(len(truth)), truth], 1e-7, 1.0)
    return float(np.mean(decide(probabilities) == truth)), float(-np.mean(np.log(picked)))
