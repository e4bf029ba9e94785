"""Deciding a label from class probabilities (INTERFACES item 3).

Placeholder written by the export helper so export verification can use the one `decide`;
the runtime helper owns this module and adds `Prediction`, `make_prediction` and `make_error`.
"""

from __future__ import annotations

import numpy as np


def decide(probabilities: np.ndarray) -> np.ndarray:
    """(N,) int label indices for (N, K) probabilities: argmax, ties broken toward the LATER index.

    A binary 0.5 therefore goes to labels[1], as training's `p >= 0.5` does; int8 outputs hit
    exactly 0.5.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"expected (N, K) probabilities, got shape {probabilities.shape}")
    last = probabilities.shape[1] - 1
    return (last - np.argmax(probabilities[:, ::-1], axis=1)).astype(int)
