"""Check an exported file in the runtime's own engine against the source model it came from.

Every file is opened with `catdog.runtime.engine.open_engine` on its temporary name, so export
verification runs exactly the code `catdog-run` will (one quantize/dequantize, one engine per
format). Labels are decided by `catdog.runtime.prediction.decide`. Both sides are (N, K)
probabilities in label order: the file's, and the source model's outputs passed through the
same parameter-free head (`catdog.export.heads.reference_probabilities`). The checks:

* fp32: labels agree with the source model on >= 99.5% of images and max |dp| <= 1e-3 (over
  all K columns).
* fp16: float16 weights round each weight by up to 2**-11 relative, which moved the shipped model's
  probabilities by up to 1.5e-3, so 1e-3 is too tight; >= 99.5% agreement, max |dp| <= 1e-2.
* int8 and dynamic, with labelled validation images: accuracy within `--max-drop` percentage
  points (default 1.0) of the source model's on the same images, counted in images: a drop equal
  to --max-drop passes (1.0 point of 400 images allows 4 fewer correct, `allowed_images`).
* int8 and dynamic, without labelled images (a user's model with no --val): agreement with the
  source model on the calibration images >= 98% and mean |dp| <= 0.02.
The int8 TFLite file must also take uint8 raw pixels (scale 1.0, zero point 0) and hold no
float tensor at all. Fewer than MINIMUM_CHECK_IMAGES check images draw one warning line
(`coarse_check_warning`): each image is then worth more than a point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError

FLOAT_THRESHOLDS = {"fp32": (0.995, 1e-3), "fp16": (0.995, 1e-2)}  # (min agreement, max |dp|)
UNLABELLED_THRESHOLDS = (0.98, 0.02)  # (min agreement, max mean |dp|) for int8/dynamic without labels
BATCH_SIZE = 100
# Below this many check images one image moves accuracy or agreement by more than a point, the
# size of the default --max-drop, so a pass says little: export says so in one line.
MINIMUM_CHECK_IMAGES = 100


class VerificationError(CatdogError):
    """An exported model failed a check: not a usage error, so exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class Verification:
    """How one file compares with the source model; `failure` is None when every check passed.

    `accuracy` and `keras_accuracy` are None when the images carry no labels.
    """

    agreement: float  # fraction of images given the same label as the source model
    max_difference: float  # max |p - source p| over all images and classes
    mean_difference: float  # mean |p - source p|
    accuracy: float | None
    keras_accuracy: float | None
    failure: str | None

    @property
    def delta_points(self) -> float | None:
        """Accuracy minus the source model's accuracy, in percentage points."""
        if self.accuracy is None or self.keras_accuracy is None:
            return None
        return 100.0 * (self.accuracy - self.keras_accuracy)


def coarse_check_warning(count: int, *, labelled: bool) -> str | None:
    """One warning line when `count` check images are fewer than MINIMUM_CHECK_IMAGES, else None.

    It names what one image is worth: 100 / count percentage points of accuracy (labelled
    images) or of label agreement with the source model (unlabelled ones).
    """
    if count >= MINIMUM_CHECK_IMAGES:
        return None
    measure = "accuracy" if labelled else "agreement with the source model"
    kind = "labelled validation" if labelled else "unlabelled check"
    return (f"warning: the check is coarse: only {count} {kind} images, so one image is worth "
            f"{100.0 / max(count, 1):.1f} points of {measure}; pass --val DIR with at least "
            f"{MINIMUM_CHECK_IMAGES} labelled photos (one folder per label)")


def file_probabilities(path: Path, images: np.ndarray) -> np.ndarray:
    """(N, K) float32 probabilities of an exported file on (N, H, W, 3) uint8 images, via the runtime engine."""
    from catdog.runtime.engine import open_engine

    engine = open_engine(path)
    return np.concatenate([engine.predict(images[start:start + BATCH_SIZE])
                           for start in range(0, len(images), BATCH_SIZE)])


def allowed_images(points: float, *, count: int) -> int:
    """How many of `count` images a drop of `points` percentage points allows, exactly (0.5 of 400 is 2).

    The bound is taken as the decimal the user typed (`Fraction(repr(points))`), so 1.0 point of 400
    images is 4 images, never 3.999...: a drop equal to --max-drop passes.
    """
    return math.floor(Fraction(repr(float(points))) * count / 100)


def required_images(fraction: float, *, count: int) -> int:
    """The fewest of `count` images that make a share of at least `fraction` (0.995 of 800 is 796), exactly."""
    return math.ceil(Fraction(repr(float(fraction))) * count)


def compare(probabilities: np.ndarray, *, reference: np.ndarray, labels: np.ndarray | None,
            precision: str, max_drop: float) -> Verification:
    """Score a file's (N, K) probabilities against the source model's and, if given, the (N,) true labels.

    Agreement and accuracy bounds are compared on counts of images, never on floats: a drop of
    exactly --max-drop points passes.
    """
    from catdog.runtime.prediction import decide

    predicted, expected = decide(probabilities), decide(reference)
    count = len(predicted)
    agreeing = int(np.sum(predicted == expected))
    agreement = agreeing / count
    differences = np.abs(probabilities.astype(np.float64) - reference.astype(np.float64))
    max_difference, mean_difference = float(differences.max()), float(differences.mean())
    accuracy = keras_accuracy = None
    if labels is not None:
        truth = np.asarray(labels).astype(int)
        correct, keras_correct = int(np.sum(predicted == truth)), int(np.sum(expected == truth))
        accuracy, keras_accuracy = correct / count, keras_correct / count
    failure = None
    if precision in FLOAT_THRESHOLDS:
        minimum_agreement, maximum_difference = FLOAT_THRESHOLDS[precision]
        if agreeing < required_images(minimum_agreement, count=count):
            failure = (f"label agreement {agreement:.2%} ({agreeing} of {count} images) is below "
                       f"{minimum_agreement:.1%} (needs {required_images(minimum_agreement, count=count)})")
        elif not max_difference <= maximum_difference:
            failure = (f"max |probability difference| {max_difference:.2e} exceeds {maximum_difference:.0e} "
                       f"by {max_difference - maximum_difference:.2e}")
    elif labels is not None:
        dropped, allowed = keras_correct - correct, allowed_images(max_drop, count=count)
        if dropped > allowed:
            failure = (f"accuracy {accuracy:.2%} is {100.0 * dropped / count:.2f} points below the source model's "
                       f"{keras_accuracy:.2%} ({dropped} of {count} images; --max-drop {max_drop:g} allows {allowed})")
    else:
        minimum_agreement, maximum_mean = UNLABELLED_THRESHOLDS
        if agreeing < required_images(minimum_agreement, count=count):
            failure = (f"label agreement with the source model {agreement:.2%} ({agreeing} of {count} images) is below "
                       f"{minimum_agreement:.0%} on the calibration images (pass --val DIR with labelled images to "
                       "check accuracy instead)")
        elif not mean_difference <= maximum_mean:
            failure = f"mean |probability difference| {mean_difference:.3f} exceeds {maximum_mean:g}"
    return Verification(agreement, max_difference, mean_difference, accuracy, keras_accuracy, failure)


def check_int8_tflite(path: Path) -> str | None:
    """Return why an int8 TFLite file is not all-integer with raw uint8 pixel input, or None."""
    from catdog.export.tflite import make_tflite_interpreter

    interpreter = make_tflite_interpreter(Path(path).read_bytes())
    details = interpreter.get_input_details()[0]
    scale, zero_point = details["quantization"]
    if np.dtype(details["dtype"]) != np.uint8 or scale != 1.0 or zero_point != 0:
        return (f"int8 input check: expected uint8 with scale 1.0 and zero point 0, got "
                f"{np.dtype(details['dtype']).name} scale {scale} zero point {zero_point}")
    floats = [tensor["name"] for tensor in interpreter.get_tensor_details()
              if np.dtype(tensor["dtype"]).kind == "f"]
    if floats:
        return f"int8 op check: {len(floats)} float tensors remain, e.g. {floats[0]}"
    return None
