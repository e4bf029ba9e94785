"""The fast JPEG path (runtime/jpeg.py) gives Pillow's exact pixels, or steps aside for Pillow."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from catdog.runtime import jpeg
from catdog.runtime.preprocess import load_image, open_image, prepare_image
from conftest import CATDOG_SPEC

pytest.importorskip("simplejpeg")


def photo(height: int, width: int, *, seed: int = 0) -> np.ndarray:
    """A smooth, non-symmetric test picture (gradients plus noise), so flips and rotations show."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    pixels = np.stack([rows * 255 // height, columns * 255 // width, (rows + 2 * columns) % 256], axis=-1)
    return np.clip(pixels + rng.integers(-20, 20, size=pixels.shape), 0, 255).astype(np.uint8)


def write_jpeg(path: Path, pixels: np.ndarray, **options) -> Path:
    Image.fromarray(pixels).save(path, format="JPEG", quality=90, **options)
    return path


def pillow_pixels(source, spec=CATDOG_SPEC) -> np.ndarray:
    """What load_image returned before the fast path: Pillow's draft decode."""
    with open_image(source) as image:
        return prepare_image(image, spec=spec)


@pytest.mark.parametrize("size", [(375, 500), (200, 130), (64, 64), (1030, 517), (63, 300)])
@pytest.mark.parametrize("progressive", [False, True])
def test_fast_path_matches_pillow_draft(tmp_path, size, progressive):
    path = write_jpeg(tmp_path / "photo.jpg", photo(*size), progressive=progressive)
    assert jpeg.read_jpeg(path, min_size=(64, 64)) is not None
    np.testing.assert_array_equal(load_image(path, spec=CATDOG_SPEC), pillow_pixels(path))


def test_fast_path_scales_like_draft_and_never_below_the_target(tmp_path):
    path = write_jpeg(tmp_path / "photo.jpg", photo(375, 500))
    assert jpeg.read_jpeg(path, min_size=(64, 64)).size == (125, 94)  # 1/4, as draft picks
    assert jpeg.read_jpeg(path, min_size=(100, 100)).size == (250, 188)  # 1/2: 1/4 would be < 100
    image = jpeg.read_jpeg(path)
    assert (image.mode, image.size) == ("RGB", (500, 375))


def test_full_decode_matches_pillow_without_draft(tmp_path):
    spec = dataclasses.replace(CATDOG_SPEC, jpeg_draft=False)
    path = write_jpeg(tmp_path / "photo.jpg", photo(240, 320))
    np.testing.assert_array_equal(load_image(path, spec=spec), pillow_pixels(path, spec))


def test_greyscale_jpeg_matches_pillow(tmp_path):
    path = tmp_path / "grey.jpg"
    Image.fromarray(photo(300, 200)[..., 0]).save(path, quality=90)
    assert jpeg.read_jpeg(path, min_size=(64, 64)) is not None
    np.testing.assert_array_equal(load_image(path, spec=CATDOG_SPEC), pillow_pixels(path))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    spec = dataclasses.replace(CATDOG_SPEC, image_size=(48, 80))  # not square: a wrong turn shows
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = write_jpeg(tmp_path / "turned.jpg", photo(300, 440), exif=exif)
    assert jpeg.read_jpeg(path, min_size=spec.image_size) is not None
    fast = load_image(path, spec=spec)
    assert fast.shape == (48, 80, 3)
    # Pillow's draft sizes the decode before turning it, so compare against a full decode here.
    full = dataclasses.replace(spec, jpeg_draft=False)
    assert np.abs(fast.astype(int) - pillow_pixels(path, full).astype(int)).mean() < 3
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(jpeg.read_jpeg(path)), np.asarray(ImageOps.exif_transpose(image)))


@pytest.mark.parametrize("endian", ["<", ">"])
def test_orientation_reader_agrees_with_pillow(tmp_path, endian):
    exif = Image.Exif()
    exif.endian = endian
    exif[0x010F] = "camera maker"  # an entry before the orientation
    exif[0x0112] = 6
    path = write_jpeg(tmp_path / "turned.jpg", photo(40, 60), exif=exif)
    header = jpeg.read_jpeg_header(path.read_bytes())
    assert header.orientation == Image.open(path).getexif()[0x0112] == 6
    assert (header.width, header.height, header.components) == (60, 40, 3)


def test_cmyk_goes_to_pillow(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(photo(120, 160)).convert("CMYK").save(path, quality=90)
    assert jpeg.read_jpeg(path, min_size=(64, 64)) is None
    assert load_image(path, spec=CATDOG_SPEC).shape == (64, 64, 3)


def test_orientation_only_in_xmp_goes_to_pillow(tmp_path):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    path = write_jpeg(tmp_path / "xmp.jpg", photo(80, 120), xmp=xmp)
    assert jpeg.read_jpeg(path, min_size=(64, 64)) is None
    assert load_image(path, spec=CATDOG_SPEC).shape == (64, 64, 3)


def test_png_named_jpg_and_other_suffixes_go_to_pillow(tmp_path):
    png = tmp_path / "really_a.png.jpg"
    Image.fromarray(photo(80, 120)).save(png, format="PNG")
    assert jpeg.read_jpeg(png, min_size=(64, 64)) is None
    np.testing.assert_array_equal(load_image(png, spec=CATDOG_SPEC), pillow_pixels(png))
    assert jpeg.read_jpeg(write_jpeg(tmp_path / "photo.bmp", photo(80, 120))) is None  # suffix says not JPEG


def test_truncated_jpeg_still_fails_loudly(tmp_path):
    data = write_jpeg(tmp_path / "whole.jpg", photo(375, 500)).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    assert jpeg.read_jpeg(cut, min_size=(64, 64)) is None  # simplejpeg refuses; Pillow gives the error
    with pytest.raises(OSError):
        load_image(cut, spec=CATDOG_SPEC)


def test_pixel_limit_is_left_to_pillow(tmp_path, monkeypatch):
    path = write_jpeg(tmp_path / "photo.jpg", photo(120, 160))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)
    assert jpeg.read_jpeg(path, min_size=(64, 64)) is None


def test_bytes_source_uses_the_fast_path(tmp_path):
    data = write_jpeg(tmp_path / "photo.jpg", photo(200, 300)).read_bytes()
    assert jpeg.read_jpeg(data, min_size=(64, 64)) is not None
    np.testing.assert_array_equal(load_image(data, spec=CATDOG_SPEC), pillow_pixels(io.BytesIO(data)))


def test_without_simplejpeg_pillow_decodes_the_same_pixels(tmp_path, monkeypatch):
    path = write_jpeg(tmp_path / "photo.jpg", photo(375, 500))
    fast = load_image(path, spec=CATDOG_SPEC)
    monkeypatch.setattr(jpeg, "simplejpeg", None)
    assert jpeg.read_jpeg(path, min_size=(64, 64)) is None
    np.testing.assert_array_equal(load_image(path, spec=CATDOG_SPEC), fast)
