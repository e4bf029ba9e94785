"""Per-class results a user can act on: precision, recall and the confusion matrix for any K.

One implementation for `catdog-train` (its last lines and the card, on the validation split) and
`catdog-bench --data` (for any exported file), so both print the same table. NumPy only: no
TensorFlow, so bench's light install can import it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def confusion_matrix(truth, predicted, *, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: row = true class index, column = decided class index."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def per_class_results(truth, predicted, *, labels: Sequence[str]) -> list[dict[str, Any]]:
    """One dict per label, in label order: photos (support), precision and recall (None where
    undefined: no photo of the class, or no photo decided as it)."""
    matrix = confusion_matrix(truth, predicted, num_classes=len(labels))
    rows = []
    for index, label in enumerate(labels):
        correct, actual, decided = int(matrix[index, index]), int(matrix[index].sum()), int(matrix[:, index].sum())
        rows.append({"label": label, "photos": actual,
                     "precision": round(correct / decided, 4) if decided else None,
                     "recall": round(correct / actual, 4) if actual else None})
    return rows


def format_per_class(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The per-class table as aligned text lines: label, photos, precision, recall."""
    def percent(value):
        return "-" if value is None else f"{value:.1%}"

    grid = [("class", "photos", "precision", "recall")] + [
        (row["label"], f"{row['photos']:,}", percent(row["precision"]), percent(row["recall"])) for row in rows]
    widths = [max(len(line[column]) for line in grid) for column in range(4)]
    return ["  ".join(cell.ljust(widths[0]) if column == 0 else cell.rjust(widths[column])
                      for column, cell in enumerate(line)) for line in grid]
