"""How a photo becomes a model's input: decode, orient, convert to RGB, resize as the model's spec says.

Training, export and the runtime all call `load_image` from here, so the array a model was
trained on and the array it sees at run time come from the same code. What size, filter and
draft flag to use comes from the model's `ModelSpec` (`catdog.runtime.spec`).
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
from PIL import Image, ImageFile, ImageOps

from catdog.runtime.files import IMAGE_SUFFIXES  # noqa: F401 - re-exported for older imports
from catdog.runtime.jpeg import read_jpeg
from catdog.runtime.spec import ModelSpec

# A truncated JPEG must fail loudly, not decode as grey padding that the model then classifies.
ImageFile.LOAD_TRUNCATED_IMAGES = False

ImageSource = Union[str, os.PathLike, bytes, io.IOBase, Image.Image, np.ndarray]

RESIZE_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "area": Image.Resampling.BOX,
}


def open_image(source: ImageSource) -> Image.Image:
    """Open a path, bytes or file object lazily (nothing is decoded yet)."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        return Image.open(io.BytesIO(source))
    return Image.open(source)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparent pixels are composited on white, because a photo with an alpha channel is
    meant to be seen on a page, not on the black that dropping alpha would leave.
    16- and 32-bit greyscale is rescaled to 8 bits rather than clipped at 255.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        grey = np.clip(array * (255.0 / top), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def prepare_image(image: Image.Image, *, spec: ModelSpec) -> np.ndarray:
    """Turn an opened (possibly not yet decoded) Pillow image into a (H, W, 3) uint8 array."""
    height, width = spec.image_size
    if spec.jpeg_draft and image.format == "JPEG":
        # Draft mode picks the largest DCT scaling that still leaves at least the target size,
        # so the final resize always shrinks; benchmarks/draft_fidelity.py measures the effect.
        image.draft("RGB", (width, height))
    return resize_to_array(to_rgb(ImageOps.exif_transpose(image)), spec=spec)


def resize_to_array(image: Image.Image, *, spec: ModelSpec) -> np.ndarray:
    """Resize an upright RGB image to the model's size with the contract's filter."""
    height, width = spec.image_size
    if image.size != (width, height):
        image = image.resize((width, height), RESIZE_FILTERS[spec.resize])
    return np.asarray(image, dtype=np.uint8)


def load_image(source: ImageSource, *, spec: ModelSpec) -> np.ndarray:
    """Decode one image from a path, bytes, file object, PIL image or array into (H, W, 3) uint8.

    Arrays are taken as already-decoded RGB (H, W, 3) or greyscale (H, W) pixels in 0..255.
    Raises OSError, ValueError or PIL errors for unreadable, truncated or non-image input.
    """
    if isinstance(source, np.ndarray):
        return prepare_array(source, spec=spec)
    if isinstance(source, (str, os.PathLike, bytes, bytearray)):
        # Baseline and progressive JPEGs: libjpeg-turbo via simplejpeg, same pixels; None: Pillow below.
        image = read_jpeg(source, min_size=spec.image_size if spec.jpeg_draft else None)
        if image is not None:
            return resize_to_array(image, spec=spec)
    with open_image(source) as image:
        return prepare_image(image, spec=spec)


def prepare_array(array: np.ndarray, *, spec: ModelSpec) -> np.ndarray:
    """Resize an RGB or greyscale pixel array with the same filter as decoded files get."""
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).round().astype(np.uint8)
    # Pixels from an array (a video frame, say) carry no EXIF, so they skip prepare_image's
    # orientation step, which costs about 0.3 ms a frame.
    return resize_to_array(Image.fromarray(np.ascontiguousarray(array[..., :3])), spec=spec)
