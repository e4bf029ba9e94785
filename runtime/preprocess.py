"""How a photo becomes a model's input: decode, orient, convert to RGB, resize as the model's spec says.

Training, export and the runtime all call `load_image` from here, so the array a model was
trained on and the array it sees at run time come from the same code. What size, filter and
draft flag to use comes from the model's `ModelSpec` (`catdog.runtime.spec`).

The pixel contract, the same for arrays and for decoded files of the same mode:

==========================  ====================================================================
uint8 (and bool)            taken as is (bool: False 0, True 255)
uint16 (16-bit files)       scaled to 8 bits: round(v * 255 / 65535)
other integers              0..255 as is; up to 65535 scaled as 16-bit; anything else ValueError
float (32-bit "F" files)    all values in 0..1: scaled by 255; otherwise taken as 0..255;
                            NaN, inf, negative or above 255: ValueError
(H, W) and (H, W, 1)        greyscale, repeated into R, G and B
(H, W, 3)                   RGB (not OpenCV's BGR)
(H, W, 4)                   RGBA, composited over white, like a transparent PNG file
empty or any other shape    ValueError naming the shape
==========================  ====================================================================

A caller's PIL image is never changed or closed: JPEG draft decoding and EXIF rotation are
applied to images catdog opens itself (paths, bytes, file objects) or to copies.

Memory: a JPEG is decoded at reduced scale (draft mode) when the spec allows it; any image
that would still decode to more than `max_pixels` pixels (DEFAULT_MAX_PIXELS) is refused
with ImageTooLargeError before its pixels are decoded.
"""

from __future__ import annotations

import io
import os
from typing import Union

import numpy as np
from PIL import Image, ImageFile, ImageOps

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

# 50 megapixels: above every phone or camera sensor's ordinary output (48 MP modes, 8K video
# frames at 33 MP) and below Pillow's own decompression-bomb warning (89.5 MP). A 49-MP RGB
# PNG peaks at about 190 MB while it decodes (benchmarks/large_image_memory.py), so even four
# decode workers stay under 1 GB, which a 2 GB Raspberry Pi survives. JPEGs are checked after
# draft mode has shrunk them, so a 100-MP JPEG still decodes (in about 7 MB).
DEFAULT_MAX_PIXELS = 50_000_000


class ImageTooLargeError(ValueError):
    """An image would decode to more pixels than the limit allows."""


def open_image(source: ImageSource) -> Image.Image:
    """Open a path, bytes or file object lazily (nothing is decoded yet)."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        return Image.open(io.BytesIO(source))
    return Image.open(source)


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Map pixel values of any dtype to uint8 by the module's contract (see the table above).

    Raises ValueError for NaN, inf, negative values, or values above the dtype's range.
    """
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.bool_:
        return values.astype(np.uint8) * 255
    if values.dtype == np.uint16:
        return np.round(values.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(values.dtype, np.integer):
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ValueError(f"integer pixels must be in 0..255 (8-bit) or 0..65535 (16-bit), got {low}..{high}")
        if high <= 255:
            return values.astype(np.uint8)
        return np.round(values.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            raise ValueError("pixels contain NaN or infinity")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise ValueError(f"float pixels must be in 0..1 or 0..255, got {low:g}..{high:g}")
        scale = 255.0 if high <= 1.0 else 1.0
        return np.round(values.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {values.dtype}: use uint8, uint16 or float")


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB.

    Transparent pixels are composited on white, because a photo with an alpha channel is
    meant to be seen on a page, not on the black that dropping alpha would leave.
    16-bit, 32-bit integer and float greyscale follow `scale_to_uint8`, as arrays do.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image)
        if image.mode.startswith("I;16"):
            values = values.astype(np.uint16)
        return Image.fromarray(scale_to_uint8(values)).convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def check_pixels(image: Image.Image, *, max_pixels: int | None) -> None:
    """Raise ImageTooLargeError if `image` would decode to more than `max_pixels` pixels (None: no limit)."""
    width, height = image.size
    if max_pixels and width * height > max_pixels:
        raise ImageTooLargeError(
            f"image too large: {width}x{height} is {width * height / 1e6:.1f} megapixels, over the "
            f"{max_pixels / 1e6:g}-megapixel limit for images that cannot be decoded at reduced scale "
            "(raise it with --max-pixels)")


def prepare_image(image: Image.Image, *, spec: ModelSpec, owned: bool = True,
                  max_pixels: int | None = None) -> np.ndarray:
    """Turn an opened (possibly not yet decoded) Pillow image into a (H, W, 3) uint8 array.

    owned: catdog opened the image itself, so it may decode a JPEG in draft mode (which changes
    the image object). A caller's image (owned=False) is read, never changed.
    """
    height, width = spec.image_size
    if owned and spec.jpeg_draft and image.format == "JPEG":
        # Draft mode picks the largest DCT scaling that still leaves at least the target size,
        # so the final resize always shrinks; benchmarks/draft_fidelity.py measures the effect.
        image.draft("RGB", (width, height))
    check_pixels(image, max_pixels=max_pixels)
    if owned:
        # Rotating in place spares a full-size copy of an image nobody else holds.
        ImageOps.exif_transpose(image, in_place=True)
        return resize_to_array(to_rgb(image), spec=spec)
    # Otherwise exif_transpose returns a new image (a copy when there is nothing to rotate).
    return resize_to_array(to_rgb(ImageOps.exif_transpose(image)), spec=spec)


def resize_to_array(image: Image.Image, *, spec: ModelSpec) -> np.ndarray:
    """Resize an upright RGB image to the model's size with the contract's filter."""
    height, width = spec.image_size
    if image.size != (width, height):
        image = image.resize((width, height), RESIZE_FILTERS[spec.resize])
    return np.asarray(image, dtype=np.uint8)


def load_image(source: ImageSource, *, spec: ModelSpec, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode one image from a path, bytes, file object, PIL image or array into (H, W, 3) uint8.

    Arrays follow the module's pixel contract. `max_pixels` bounds images catdog decodes from
    a path, bytes or file object (None or 0: no limit); a caller's PIL image or array is
    already in memory and is not limited. Raises OSError, ValueError (ImageTooLargeError for
    an image over the limit) or PIL errors for unreadable, truncated, oversized or non-image input.
    """
    if isinstance(source, np.ndarray):
        return prepare_array(source, spec=spec)
    if isinstance(source, Image.Image):
        return prepare_image(source, spec=spec, owned=False)
    if isinstance(source, (str, os.PathLike, bytes, bytearray)):
        # Baseline and progressive JPEGs: libjpeg-turbo via simplejpeg, same pixels; None: Pillow below.
        image = read_jpeg(source, min_size=spec.image_size if spec.jpeg_draft else None, max_pixels=max_pixels)
        if image is not None:
            return resize_to_array(image, spec=spec)
    try:
        image = open_image(source)
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"image too large for Pillow's DecompressionBomb limit: {error}") from None
    with image:
        return prepare_image(image, spec=spec, max_pixels=max_pixels)


def array_to_image(array: np.ndarray) -> Image.Image:
    """Turn a pixel array into an L, RGB or RGBA Pillow image by the module's contract."""
    shape = tuple(array.shape)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA array, got shape {shape}")
    if array.size == 0:
        raise ValueError(f"empty image array of shape {shape}")
    pixels = np.ascontiguousarray(scale_to_uint8(array))
    return Image.fromarray(pixels)  # uint8 (H, W) is L, (H, W, 3) RGB, (H, W, 4) RGBA


def prepare_array(array: np.ndarray, *, spec: ModelSpec) -> np.ndarray:
    """Resize a pixel array (see the module's contract) with the same filter decoded files get."""
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[-1] == 3 and array.size:
        # The common case, a video frame: no conversion. Pixels from an array carry no EXIF,
        # so they skip prepare_image's orientation step, which costs about 0.3 ms a frame.
        return resize_to_array(Image.fromarray(np.ascontiguousarray(array)), spec=spec)
    return resize_to_array(to_rgb(array_to_image(array)), spec=spec)
