"""The exported probability function to TFLite with the TF/LiteRT converter, in four precisions.

The converter traces `catdog.export.heads.probability_function` (raw 0..255 pixels in, (N, K)
probabilities in label order out), so every file has the same two ends whatever the source.

* fp32: float weights and arithmetic, float32 input of raw 0..255 pixels, float32 (N, K) output.
* fp16: weights stored as float16 (half the size), dequantized to float32 when loaded.
* dynamic: dynamic-range quantization: int8 weights, float32 input and output, activations
  quantized on the fly per inference.
* int8: full-integer quantization: every op runs in int8 (TFLITE_BUILTINS_INT8 only).
  Input: uint8 raw pixels 0..255 with scale 1.0 and zero point 0, so a decoded photo goes
  in unchanged. Output: uint8 (N, K); its scale and zero point are the converter's choice
  from the calibrated range of the probabilities (0..1), recorded in the metadata. For a sigmoid
  model, [1 - p, p] is a CONCATENATION whose output takes the LOGISTIC kernel's fixed grid
  (scale 1/256), so P(labels[1]) keeps exactly the values the sigmoid can give.
"""

from __future__ import annotations

import warnings
from typing import Iterator

import numpy as np

from catdog.errors import CatdogError
from catdog.export.quiet import captured_native_output


def range_anchor_image(image_size: tuple[int, int]) -> np.ndarray:
    """A (1, H, W, 3) image, half black and half white.

    The converter derives the input's quantization from the smallest and largest pixel it
    sees. Calibrating with this image first pins that range to exactly 0..255, so the uint8
    input's scale is exactly 1.0 and raw pixels need no rescaling.
    """
    height, width = image_size
    image = np.zeros((1, height, width, 3), dtype=np.float32)
    image[:, height // 2:] = 255.0
    return image


def representative_dataset(calibration_images: np.ndarray) -> Iterator[list[np.ndarray]]:
    """Yield the range anchor, then every calibration image as a float32 batch of one."""
    yield [range_anchor_image(calibration_images.shape[1:3])]
    for image in calibration_images:
        yield [image[None].astype(np.float32)]


def convert_to_tflite(function, *, precision: str, calibration_images: np.ndarray | None = None) -> bytes:
    """Return the TFLite flatbuffer of a `tf.function` at `precision` (fp32, fp16, dynamic or int8)."""
    # How many images is enough is export's call (`catdog.export.pipeline.load_calibration`);
    # here only none at all is refused, as the converter cannot calibrate on nothing.
    if precision == "int8" and (calibration_images is None or len(calibration_images) == 0):
        raise CatdogError("int8 calibration needs calibration images, got none: pass --calib DIR")
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Frozen first: given the live function, the converter keeps the weights as resource
    # variables (READ_VARIABLE ops with no data) and int8 calibration cannot run them.
    frozen = convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if precision in ("fp16", "dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        converter.representative_dataset = lambda: representative_dataset(calibration_images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    elif precision not in ("fp32", "dynamic"):
        raise CatdogError(f"unknown TFLite precision {precision!r}")
    with captured_native_output(), warnings.catch_warnings():
        # With a uint8 input the converter always notes it has no input statistics; the range anchor covers that.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(converter.convert())


def describe_tflite_tensors(model_bytes: bytes) -> dict[str, dict]:
    """Name, dtype and quantization (or None) of the model's input and output, from LiteRT itself."""
    interpreter = make_tflite_interpreter(model_bytes)
    described = {}
    for role, details in (("input", interpreter.get_input_details()[0]), ("output", interpreter.get_output_details()[0])):
        scale, zero_point = details["quantization"]
        described[role] = {
            "name": details["name"],
            "dtype": np.dtype(details["dtype"]).name,
            "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None,
        }
    return described


def make_tflite_interpreter(model_bytes: bytes, *, threads: int | None = None):
    """A LiteRT interpreter over in-memory model bytes (tf.lite's as a fallback)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite import Interpreter
    return Interpreter(model_content=model_bytes, num_threads=threads)


def tflite_operator_names(model_bytes: bytes) -> set[str]:
    """The set of builtin operator names in the model, for checking an int8 model is all-integer."""
    return {op["op_name"] for op in make_tflite_interpreter(model_bytes)._get_ops_details()}
