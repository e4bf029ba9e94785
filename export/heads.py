"""The exported graph's two ends: raw 0..255 pixels in, K probabilities in label order out.

Whatever the source model expects and gives, every exported file takes raw 0..255 pixels and
outputs (N, K) probabilities (INTERFACES item 1). `probability_function` wraps the source
model's call in a `tf.function` that both converters trace:

* input scaling: pixels are mapped linearly from 0..255 onto the model's `pixel_range`
  (x * (high - low) / 255 + low), a parameter-free multiply-add folded into the graph (in the
  int8 TFLite it becomes part of the quantized input arithmetic);
* output head, parameter-free:
  - "sigmoid": one unit p = P(labels[1]) becomes [1 - p, p];
  - "softmax": K probabilities pass through unchanged;
  - "logits": K > 1 logits go through softmax; a single logit through the logistic
    function and then [1 - p, p].

With `tta="flip"`, the exported graph also classifies each image's mirror image (flipped
left to right) in the same batch and returns the mean of the two probability rows, so every
runtime gets flip test-time augmentation at twice the compute. `reference_probabilities`
applies the same head in NumPy to the source model's own outputs (and `mirror_images` gives the
mirrors), so verification compares each file with the untouched source model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOURCE_OUTPUTS = ("sigmoid", "softmax", "logits")
PIXEL_RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}
TEST_TIME_AUGMENTATIONS = ("none", "flip")
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class Head:
    """What the source model expects and gives; recorded in the metadata as `source_*`."""

    source_output: str  # "sigmoid", "softmax" or "logits"
    source_pixel_range: tuple[float, float]  # what raw pixel values 0 and 255 must become
    units: int  # the source output's last axis

    def __post_init__(self) -> None:
        if self.source_output not in SOURCE_OUTPUTS:
            raise ValueError(f"source_output must be one of {', '.join(SOURCE_OUTPUTS)}, got {self.source_output!r}")
        if self.source_output == "sigmoid" and self.units != 1:
            raise ValueError(f"a sigmoid output has 1 unit, got {self.units}")

    @property
    def num_classes(self) -> int:
        """K: two for a single unit, else the units."""
        return 2 if self.units == 1 else self.units

    def scaling(self) -> tuple[float, float] | None:
        """(multiplier, offset) mapping raw 0..255 onto the source pixel range, or None for 0..255."""
        low, high = self.source_pixel_range
        if (low, high) == (0.0, 255.0):
            return None
        return (high - low) / 255.0, low


def probability_function(call, *, input_shape: tuple[int, int, int], head: Head, int8_output: bool = False,
                         tta: str = "none"):
    """A `tf.function` taking (N, H, W, 3) float32 raw pixels and returning (N, K) float32 probabilities.

    `call` maps the source model's own input (already scaled) to its own output tensor.
    `int8_output` (for the int8 TFLite only) pins the [1 - p, p] output of a one-unit model to
    the LOGISTIC kernel's own grid, scale 1/256 and zero point 0 (a FakeQuant over 0..255/256,
    which the converter takes as the tensor's range). Calibration would otherwise pick the
    largest probability it happened to see (e.g. 0.991) and clip every P above it; on this grid
    P(labels[1]) keeps exactly the sigmoid's quantized value, and 1 - p reads 255/256 only
    where p is exactly 0. Softmax and logistic outputs already have that fixed grid.

    `tta="flip"` runs the images and their mirrors as one batch of 2N and averages each image's
    two probability rows (tf.split keeps the ops simple for both converters).
    """
    import tensorflow as tf

    if tta not in TEST_TIME_AUGMENTATIONS:
        raise ValueError(f"tta must be one of {', '.join(TEST_TIME_AUGMENTATIONS)}, got {tta!r}")
    scaling = head.scaling()

    def class_probabilities(pixels):
        output = tf.reshape(tf.cast(call(pixels), tf.float32), (-1, head.units))
        if head.units == 1:
            positive = tf.sigmoid(output) if head.source_output == "logits" else output
            return tf.concat([1.0 - positive, positive], axis=-1)
        if head.source_output == "logits":
            return tf.nn.softmax(output, axis=-1)
        return output

    @tf.function(input_signature=[tf.TensorSpec((None, *input_shape), tf.float32, name=INPUT_NAME)])
    def probabilities(images):
        pixels = images if scaling is None else images * scaling[0] + scaling[1]
        if tta == "flip":
            both = class_probabilities(tf.concat([pixels, tf.reverse(pixels, axis=[2])], axis=0))
            original, mirrored = tf.split(both, 2, axis=0)
            probabilities = (original + mirrored) * 0.5
        else:
            probabilities = class_probabilities(pixels)
        if head.units == 1 and int8_output:
            probabilities = tf.quantization.fake_quant_with_min_max_args(
                probabilities, min=0.0, max=255.0 / 256.0, num_bits=8)
        return {OUTPUT_NAME: probabilities}

    return probabilities


def scale_pixels(images: np.ndarray, *, pixel_range: tuple[float, float]) -> np.ndarray:
    """Raw (N, H, W, 3) pixels as float32 mapped linearly onto `pixel_range` (NumPy)."""
    pixels = np.asarray(images, dtype=np.float32)
    low, high = (float(value) for value in pixel_range)
    if (low, high) == (0.0, 255.0):
        return pixels
    return pixels * np.float32((high - low) / 255.0) + np.float32(low)


def mirror_images(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) images flipped left to right, as the exported graph's flip TTA sees them."""
    return np.ascontiguousarray(np.asarray(images)[:, :, ::-1])


def reference_probabilities(outputs: np.ndarray, *, head: Head) -> np.ndarray:
    """The head applied in NumPy to the source model's (N, units) outputs: (N, K) float32."""
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1, head.units)
    if head.units == 1:
        positive = 1.0 / (1.0 + np.exp(-outputs)) if head.source_output == "logits" else outputs
        return np.concatenate([1.0 - positive, positive], axis=1).astype(np.float32)
    if head.source_output == "logits":
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return outputs.astype(np.float32)
