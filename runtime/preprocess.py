"""The one preprocessing contract: how a photo becomes the model's 64x64 RGB input.

Training, export and the runtime all call `load_image` from here, so the array a model was
trained on and the array it sees at run time come from the same code. Exported models carry
`Preprocessing.to_dict()` in their metadata, and the runtime rebuilds it with `from_dict`.
"""

from __future__ import annotations

import dataclasses
import io
import os
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps

# A truncated JPEG must fail loudly, not decode as grey padding that the model then classifies.
ImageFile.LOAD_TRUNCATED_IMAGES = False

ImageSource = Union[str, os.PathLike, bytes, io.IOBase, Image.Image, np.ndarray]

# What counts as a photo, for training, calibration, benchmarks and `catdog-run` folders alike:
# formats Pillow decodes, by file suffix.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})

RESIZE_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "area": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class Preprocessing:
    """Everything a model needs to know about its input, written into every exported file."""

    image_size: tuple[int, int] = (64, 64)  # (height, width)
    channels: str = "RGB"
    layout: str = "NHWC"
    pixel_range: tuple[float, float] = (0.0, 255.0)  # raw pixels; scaling is inside the model
    resize: str = "bilinear"  # Pillow's filter; on shrinking it averages over the whole footprint
    jpeg_draft: bool = True  # let libjpeg decode at 1/2, 1/4 or 1/8 scale, never below image_size
    labels: tuple[str, ...] = ("cat", "dog")  # index 1 is the sigmoid's positive class

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        """Rebuild from `to_dict` output, ignoring keys this version does not know."""
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in data.items() if key in known}
        return cls(**values)


DEFAULT_PREPROCESSING = Preprocessing()


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


def prepare_image(image: Image.Image, *, preprocessing: Preprocessing = DEFAULT_PREPROCESSING) -> np.ndarray:
    """Turn an opened (possibly not yet decoded) Pillow image into a (H, W, 3) uint8 array."""
    height, width = preprocessing.image_size
    if preprocessing.jpeg_draft and image.format == "JPEG":
        # Draft mode picks the largest DCT scaling that still leaves at least the target size,
        # so the final resize always shrinks; benchmarks/draft_fidelity.py measures the effect.
        image.draft("RGB", (width, height))
    return resize_to_array(to_rgb(ImageOps.exif_transpose(image)), preprocessing=preprocessing)


def resize_to_array(image: Image.Image, *, preprocessing: Preprocessing = DEFAULT_PREPROCESSING) -> np.ndarray:
    """Resize an upright RGB image to the model's size with the contract's filter."""
    height, width = preprocessing.image_size
    if image.size != (width, height):
        image = image.resize((width, height), RESIZE_FILTERS[preprocessing.resize])
    return np.asarray(image, dtype=np.uint8)


def load_image(source: ImageSource, *, preprocessing: Preprocessing = DEFAULT_PREPROCESSING) -> np.ndarray:
    """Decode one image from a path, bytes, file object, PIL image or array into (H, W, 3) uint8.

    Arrays are taken as already-decoded RGB (H, W, 3) or greyscale (H, W) pixels in 0..255.
    Raises OSError, ValueError or PIL errors for unreadable, truncated or non-image input.
    """
    if isinstance(source, np.ndarray):
        return prepare_array(source, preprocessing=preprocessing)
    with open_image(source) as image:
        return prepare_image(image, preprocessing=preprocessing)


def prepare_array(array: np.ndarray, *, preprocessing: Preprocessing = DEFAULT_PREPROCESSING) -> np.ndarray:
    """Resize an RGB or greyscale pixel array with the same filter as decoded files get."""
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).round().astype(np.uint8)
    # Pixels from an array (a video frame, say) carry no EXIF, so they skip prepare_image's
    # orientation step, which costs about 0.3 ms a frame.
    return resize_to_array(Image.fromarray(np.ascontiguousarray(array[..., :3])), preprocessing=preprocessing)
