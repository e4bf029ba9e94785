"""How the CPU-class benchmarks compare two files' answers: one score, one set of targets (issue 26).

An int8 file is compared with its fp32 twin on the same photos: label agreement, max |dP| and accuracy,
all counted in images (so a value equal to a limit passes, and no float rounding decides). Used by
onnx_int8_recipes.py, int8_onnx_answers.py and cpu_matrix.py. numpy and catdog's runtime only.
"""

from __future__ import annotations

import numpy as np

TARGETS = {"min_agreement_percent": 99.0, "max_abs_dp": 0.15, "max_accuracy_delta_points": 0.5}


def score(probabilities: np.ndarray, *, fp32: np.ndarray, labels: np.ndarray) -> dict:
    """Agreement with fp32, max |dP| and accuracy, compared on counts of images; and whether the targets hold."""
    from catdog.runtime.prediction import decide

    decided, reference = decide(probabilities), decide(fp32)
    count = len(labels)
    agreeing, correct, fp32_correct = (int((decided == reference).sum()), int((decided == labels).sum()),
                                       int((reference == labels).sum()))
    max_dp = float(np.abs(probabilities.astype(np.float64) - fp32.astype(np.float64)).max())
    meets = (agreeing * 100 >= TARGETS["min_agreement_percent"] * count and max_dp <= TARGETS["max_abs_dp"]
             and abs(correct - fp32_correct) * 100 <= TARGETS["max_accuracy_delta_points"] * count)
    return {"images": count, "agreeing": agreeing, "agreement": agreeing / count, "flips": count - agreeing,
            "max_abs_dp": max_dp, "correct": correct, "accuracy": correct / count,
            "reference_correct": fp32_correct, "reference_accuracy": fp32_correct / count,
            "accuracy_delta_points": 100.0 * (correct - fp32_correct) / count, "meets_targets": bool(meets)}
