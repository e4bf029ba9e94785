"""Conversions between pixels, model tensors and class probabilities, shared by every engine.

Pure NumPy: `scale_pixels` maps raw 0..255 pixels to a model's pixel range, `quantize` and
`dequantize` apply TFLite's affine quantization (also used for ONNX files that record theirs),
and `as_class_probabilities` turns a model's raw output into (N, K) probabilities in label
order. Export verification uses these same functions, so there is no second copy in export/.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

RAW_PIXEL_RANGE = (0.0, 255.0)


def as_class_probabilities(values: np.ndarray, *, num_classes: int) -> np.ndarray:
    """Turn a model's (N, units) output into (N, K) float32 probabilities in label order.

    One unit is a sigmoid's P(labels[1]) and becomes [1 - p, p] (K must be 2); K units are
    taken as they are. Raises ValueError for any other width.
    """
    values = np.asarray(values, dtype=np.float32)
    values = values.reshape(len(values), -1)
    if values.shape[1] == 1 and num_classes == 2:
        return np.concatenate([1.0 - values, values], axis=1)
    if values.shape[1] != num_classes:
        raise ValueError(f"the model gave {values.shape[1]} outputs per image for {num_classes} labels")
    return values


def scale_pixels(batch: np.ndarray, *, pixel_range: Sequence[float]) -> np.ndarray:
    """Map raw 0..255 pixels to the range a model expects (ModelSpec.pixel_range).

    Returns the uint8 batch itself for (0, 255), every exported file's range; otherwise float32
    `low + pixel * (high - low) / 255`.
    """
    low, high = (float(value) for value in pixel_range)
    if (low, high) == RAW_PIXEL_RANGE:
        return batch
    return (batch.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)).astype(np.float32)


def quantize(batch: np.ndarray, *, dtype: Any, scale: float, zero_point: int) -> np.ndarray:
    """Convert pixels (uint8, or floats from `scale_pixels`) to what an input tensor expects.

    Float inputs get a cast; integer inputs get `round(value / scale + zero_point)`, clipped
    to the dtype (TFLite's affine quantization; a scale of 0 means "not quantized").
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return batch.astype(dtype)
    if dtype == np.uint8 and batch.dtype == np.uint8 and (scale in (0.0, 1.0)) and zero_point == 0:
        return batch  # the int8 export takes raw pixels directly: no copy, no rounding
    values = batch.astype(np.float32) if scale == 0.0 else batch.astype(np.float32) / scale + zero_point
    limits = np.iinfo(dtype)
    return np.clip(np.round(values), limits.min, limits.max).astype(dtype)


def dequantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """Turn a quantized integer output back into float32: `(value - zero_point) * scale`."""
    if values.dtype.kind == "f" or scale == 0.0:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * np.float32(scale)
