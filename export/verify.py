"""Check an exported model in its own runtime against the Keras model it came from.

Every artifact runs on the validation images in LiteRT or onnxruntime before it is given its
final name. The thresholds, per precision:

* fp32: labels agree with Keras on >= 99.5% of images and max |P(dog) difference| <= 1e-3.
* fp16: float16 weights round each weight by up to 2**-11 relative, which moved P(dog) by up
  to 1.5e-3 for the shipped model, so 1e-3 is too tight; >= 99.5% agreement, max |dp| <= 1e-2.
* dynamic: activations are quantized on the fly, so outputs move by up to a few hundredths
  and labels near 0.5 can flip; like int8, accuracy may drop at most `--max-drop` points.
* int8: accuracy within `--max-drop` percentage points (default 1.0) of Keras's accuracy on
  the same images; label agreement is reported but not enforced. The TFLite int8 file must
  also take uint8 raw pixels (scale 1.0, zero point 0) and hold no float tensor at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catdog.errors import CatdogError

FLOAT_THRESHOLDS = {"fp32": (0.995, 1e-3), "fp16": (0.995, 1e-2)}  # (min agreement, max |dp|)
BATCH_SIZE = 100


class VerificationError(CatdogError):
    """An exported model failed a check: not a usage error, so exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class Verification:
    """How one artifact compares with Keras; `failure` is None when every check passed."""

    agreement: float  # fraction of images given the same label as Keras
    max_difference: float  # max |P(dog) - Keras P(dog)|
    accuracy: float  # fraction correct against the true labels
    keras_accuracy: float
    failure: str | None

    @property
    def delta_points(self) -> float:
        """Accuracy minus Keras accuracy, in percentage points."""
        return 100.0 * (self.accuracy - self.keras_accuracy)


def predict_tflite(interpreter, images: np.ndarray) -> np.ndarray:
    """P(dog) for (N, H, W, 3) uint8 images, quantizing the input and dequantizing the output as needed."""
    input_details = interpreter.get_input_details()[0]
    outputs = []
    for start in range(0, len(images), BATCH_SIZE):
        batch = images[start:start + BATCH_SIZE]
        interpreter.resize_tensor_input(input_details["index"], list(batch.shape))
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()[0]
        interpreter.set_tensor(details["index"], quantize(batch, details))
        interpreter.invoke()
        output_details = interpreter.get_output_details()[0]
        outputs.append(dequantize(interpreter.get_tensor(output_details["index"]), output_details).reshape(-1))
    return np.concatenate(outputs)


def quantize(images: np.ndarray, details: dict) -> np.ndarray:
    """Raw pixels in the tensor's dtype: unchanged for float or a scale-1 uint8 input, else requantized."""
    dtype = np.dtype(details["dtype"])
    scale, zero_point = details["quantization"]
    if dtype.kind == "f":
        return images.astype(dtype)
    if scale in (0.0, 1.0) and zero_point == 0 and dtype == np.uint8:
        return images.astype(np.uint8)
    info = np.iinfo(dtype)
    return np.clip(np.round(images / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, details: dict) -> np.ndarray:
    """Float values of an output tensor."""
    scale, zero_point = details["quantization"]
    if np.dtype(details["dtype"]).kind == "f" or not scale:
        return values.astype(np.float32)
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def predict_onnx(session, images: np.ndarray) -> np.ndarray:
    """P(dog) for (N, H, W, 3) uint8 images from an onnxruntime session with a float input."""
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: images[start:start + BATCH_SIZE].astype(np.float32)})[0].reshape(-1)
               for start in range(0, len(images), BATCH_SIZE)]
    return np.concatenate(outputs).astype(np.float32)


def compare(probabilities: np.ndarray, *, keras_probabilities: np.ndarray, labels: np.ndarray,
            precision: str, max_drop: float) -> Verification:
    """Score an artifact's P(dog) against Keras's and the true labels, and apply the precision's checks."""
    predicted, expected = probabilities >= 0.5, keras_probabilities >= 0.5
    truth = labels >= 0.5
    agreement = float(np.mean(predicted == expected))
    difference = float(np.max(np.abs(probabilities - keras_probabilities)))
    accuracy, keras_accuracy = float(np.mean(predicted == truth)), float(np.mean(expected == truth))
    failure = None
    if precision in FLOAT_THRESHOLDS:
        minimum_agreement, maximum_difference = FLOAT_THRESHOLDS[precision]
        if agreement < minimum_agreement:
            failure = (f"label agreement {agreement:.2%} is below {minimum_agreement:.1%} "
                       f"(short by {100 * (minimum_agreement - agreement):.2f} points)")
        elif not difference <= maximum_difference:
            failure = f"max |P(dog) difference| {difference:.2e} exceeds {maximum_difference:.0e} by {difference - maximum_difference:.2e}"
    else:
        drop = 100.0 * (keras_accuracy - accuracy)
        if not drop <= max_drop:
            failure = (f"accuracy {accuracy:.2%} is {drop:.2f} points below Keras's {keras_accuracy:.2%}, "
                       f"over --max-drop {max_drop:g} by {drop - max_drop:.2f} points")
    return Verification(agreement, difference, accuracy, keras_accuracy, failure)


def check_int8_tflite(interpreter) -> str | None:
    """Return why an int8 TFLite model is not all-integer with raw uint8 pixel input, or None."""
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
