"""Bad input, each kind from a real bug report, rebuilt as a small generated input.

Arrays and PIL images in the Python API (one pixel contract), float and 16-bit files, huge
images, URL schemes and credentials, native library noise, and what a run says when it finds
nothing or skips files. Video and http cases live in tests/test_live.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

from catdog.runtime import cli
from catdog.runtime.files import list_images
from catdog.runtime.live_capture import DEFAULT_STREAM_TIMEOUT
from catdog.runtime.preprocess import DEFAULT_MAX_PIXELS, ImageTooLargeError, load_image
from catdog.runtime.sources import NothingFound, Stream, find_inputs
from catdog.runtime.spec import ModelSpec
from catdog.runtime.urls import STREAM_SCHEMES, is_stream_url, redact_text, redact_url

SPEC = ModelSpec(image_size=(32, 32), labels=("cat", "dog"))


def gradient(height: int = 40, width: int = 56) -> np.ndarray:
    """An (H, W, 3) uint8 test picture with different content in every channel."""
    rows, columns = np.mgrid[0:height, 0:width]
    return np.stack([rows * 255 // (height - 1), columns * 255 // (width - 1),
                     (rows + columns) * 255 // (height + width - 2)], axis=-1).astype(np.uint8)


# --- arrays: one contract, the same meaning as files of the same mode ---------------------------

def test_float_arrays_in_0_to_1_and_0_to_255_mean_the_same_picture():
    pixels = gradient()
    expected = load_image(pixels, spec=SPEC)
    assert np.array_equal(load_image(pixels / 255.0, spec=SPEC), expected)
    assert np.array_equal(load_image((pixels / 255.0).astype(np.float32), spec=SPEC), expected)
    assert np.array_equal(load_image(pixels.astype(np.float64), spec=SPEC), expected)
    assert load_image(pixels / 255.0, spec=SPEC).mean() > 50, "a 0..1 float array must not turn black"


def test_a_uint16_array_matches_the_same_16_bit_png_file(tmp_path):
    grey16 = gradient()[..., 0].astype(np.uint16) * 257  # 0..255 spread over 0..65535
    path = tmp_path / "deep.png"
    Image.fromarray(grey16).save(path)
    assert Image.open(path).mode.startswith("I")
    from_file = load_image(path, spec=SPEC)
    assert np.array_equal(load_image(grey16, spec=SPEC), from_file)
    assert np.array_equal(load_image(grey16[..., None], spec=SPEC), from_file)
    assert np.array_equal(from_file, load_image(gradient()[..., 0], spec=SPEC)), "16 bits scale to 8, not clip"


def test_an_rgba_array_is_composited_over_white_like_the_rgba_file(tmp_path):
    rgba = np.dstack([gradient(), np.tile(np.linspace(0, 255, 56).astype(np.uint8), (40, 1))])
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(path)
    from_file = load_image(path, spec=SPEC)
    assert np.array_equal(load_image(rgba, spec=SPEC), from_file)
    assert not np.array_equal(from_file, load_image(rgba[..., :3], spec=SPEC)), "alpha must not be dropped"
    assert from_file[:, 0].min() > 240, "fully transparent pixels become white"


def test_grey_arrays_in_both_shapes_become_grey_rgb():
    grey = gradient()[..., 1]
    expected = load_image(np.dstack([grey] * 3), spec=SPEC)
    assert np.array_equal(load_image(grey, spec=SPEC), expected)
    assert np.array_equal(load_image(grey[..., None], spec=SPEC), expected)
    assert np.array_equal(load_image(grey > 127, spec=SPEC), load_image(np.where(grey > 127, 255, 0).astype(np.uint8),
                                                                            spec=SPEC))


@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0), (0,), (4, 5, 2), (4, 5, 5), (2, 4, 5, 3, 1), (7,)])
def test_empty_or_wrongly_shaped_arrays_raise_naming_the_shape(shape):
    with pytest.raises(ValueError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        load_image(np.zeros(shape, np.uint8), spec=SPEC)


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (np.inf, "NaN or infinity"), (-0.5, "0..1 or 0..255"),
                                          (300.0, "0..1 or 0..255")])
def test_float_values_outside_the_contract_raise(bad, message):
    pixels = gradient() / 255.0
    pixels[3, 4, 1] = bad
    with pytest.raises(ValueError, match=message):
        load_image(pixels, spec=SPEC)
    with pytest.raises(ValueError, match="0..65535"):
        load_image(np.full((4, 4, 3), 70000, np.int64), spec=SPEC)


def test_integer_arrays_of_8_bit_values_are_taken_as_is():
    pixels = gradient()
    assert np.array_equal(load_image(pixels.astype(np.int64), spec=SPEC), load_image(pixels, spec=SPEC))


# --- files: float TIFFs, and ordinary photos decoded exactly as before -------------------------

def test_a_float_tiff_holding_0_to_1_is_not_black(tmp_path):
    grey = gradient()[..., 2]
    path = tmp_path / "float.tif"
    Image.fromarray((grey / 255.0).astype(np.float32)).save(path)
    assert Image.open(path).mode == "F"
    from_file = load_image(path, spec=SPEC)
    assert np.array_equal(from_file, load_image(grey, spec=SPEC))
    assert np.array_equal(from_file, load_image((grey / 255.0).astype(np.float32), spec=SPEC))


def test_ordinary_photos_decode_exactly_as_the_shared_training_path_did(tmp_path):
    """RGB, grey, palette and CMYK JPEG/PNG files: the old decode, written out, gives the same arrays."""
    spec = ModelSpec(image_size=(64, 64), labels=("cat", "dog"))
    pixels = np.random.default_rng(3).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    files = {"rgb.jpg": Image.fromarray(pixels), "grey.png": Image.fromarray(pixels[..., 0]),
             "palette.png": Image.fromarray(pixels).quantize(16), "cmyk.jpg": Image.fromarray(pixels).convert("CMYK")}
    for name, image in files.items():
        image.save(tmp_path / name)
        with Image.open(tmp_path / name) as old:
            if old.format == "JPEG":
                old.draft("RGB", (64, 64))
            upright = ImageOps.exif_transpose(old).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
            assert np.array_equal(load_image(tmp_path / name, spec=spec), np.asarray(upright)), name


# --- a caller's PIL image is never changed or closed --------------------------------------------

def test_a_callers_jpeg_is_not_shrunk_or_closed(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (267, 400, 3), dtype=np.uint8)).save(path)
    image = Image.open(path)
    load_image(image, spec=SPEC)
    assert image.size == (400, 267) and image.mode == "RGB"
    assert np.asarray(image).shape == (267, 400, 3), "the caller's image must still be readable"
    image.close()


def test_an_animated_gif_can_still_seek_afterwards(tmp_path):
    path = tmp_path / "animated.gif"
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as gif:
        load_image(gif, spec=SPEC)
        gif.seek(2)
        assert gif.tell() == 2 and gif.convert("RGB").getpixel((0, 0))[2] > 200


# --- huge images ---------------------------------------------------------------------------------

def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (200, 100)).save(path)
    with pytest.raises(ImageTooLargeError, match=r"200x100 is 0.0 megapixels, over the 0.01-megapixel limit"):
        load_image(path, spec=SPEC, max_pixels=10_000)
    assert load_image(path, spec=SPEC, max_pixels=None).shape == (32, 32, 3)
    assert load_image(Image.open(path), spec=SPEC).shape == (32, 32, 3), "a caller's image is not limited"


def test_a_jpeg_counts_after_reduced_scale_decoding(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (800, 600), (10, 200, 30)).save(path)
    # Draft mode decodes this at 1/8 scale (100x75 = 7,500 pixels), so a 10,000-pixel limit passes.
    assert load_image(path, spec=SPEC, max_pixels=10_000).shape == (32, 32, 3)
    with pytest.raises(ImageTooLargeError):
        load_image(path, spec=ModelSpec(image_size=(32, 32), labels=("a", "b"), jpeg_draft=False), max_pixels=10_000)


def test_pillows_decompression_bomb_error_is_reported_in_catdogs_words(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    with pytest.raises(ImageTooLargeError, match="image too large"):
        load_image(path, spec=SPEC, max_pixels=None)


def test_cli_defaults_match_the_library():
    assert cli.DEFAULT_STREAM_TIMEOUT == DEFAULT_STREAM_TIMEOUT == 30.0
    assert cli.DEFAULT_MAX_PIXELS == DEFAULT_MAX_PIXELS
    result = CliRunner().invoke(cli.main, ["--help"])
    for option in ("--stream-timeout", "--max-pixels", "--verbose"):
        assert option in result.output


# --- URLs: one list of schemes, credentials never written ---------------------------------------

def test_one_list_of_url_schemes():
    for scheme in STREAM_SCHEMES:
        assert is_stream_url(f"{scheme}://host:1/x") and is_stream_url(f"{scheme.upper()}://host/x")
    assert find_inputs(["udp://1.2.3.4:5000"]).inputs == [Stream("udp://1.2.3.4:5000")]
    for path in ("photo.jpg", "C:\\photos\\a.jpg", "file.mp4", "weird:name.jpg", "./http://x"):
        assert not is_stream_url(path), path


def test_redact_url_hides_userinfo_only():
    assert redact_url("rtsp://admin:s3cret@cam.local:554/live?x=1") == "rtsp://***@cam.local:554/live?x=1"
    assert redact_url("http://token@host/a.avi") == "http://***@host/a.avi"
    assert redact_url("http://host/a@b.avi") == "http://host/a@b.avi"
    assert redact_url("photos/me@home.jpg") == "photos/me@home.jpg"
    assert redact_url("rtsp://a:b@[::1") == "rtsp://***@[::1"
    assert redact_text("cannot open rtsp://u:p@h/1 or http://x:y@z/2.") == "cannot open rtsp://***@h/1 or http://***@z/2."
    assert Stream("rtsp://u:secret@cam/live").name == "rtsp://***@cam/live"


def run_cli(*arguments: str, env_extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run catdog-run in a fresh process, so library logging and environment switches are real."""
    env = {**os.environ, **(env_extra or {})}
    env.pop("OPENCV_FFMPEG_LOGLEVEL", None)
    env.pop("OPENCV_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-m", "catdog.runtime.cli", *arguments], capture_output=True,
                          text=True, env=env, timeout=timeout)


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_credentials_and_ffmpeg_lines_stay_out_of_the_output():
    pytest.importorskip("cv2")
    url = f"http://viewer:hunter2@127.0.0.1:{closed_port()}/live.mjpg"
    quiet = run_cli(url, "--format", "json", "--stream-timeout", "5")
    assert quiet.returncode == 1
    record = json.loads(quiet.stdout)
    assert record["source"] == redact_url(url) and "cannot open stream" in record["error"]
    assert "hunter2" not in quiet.stdout + quiet.stderr
    assert "@ 0x" not in quiet.stderr and "Connection refused" not in quiet.stderr, quiet.stderr
    verbose = run_cli(url, "--format", "json", "--stream-timeout", "5", "--verbose")
    assert "Connection refused" in verbose.stderr or "[tcp @" in verbose.stderr, "--verbose shows FFmpeg's lines"
    assert "hunter2" not in verbose.stdout


# --- what a run found, and what it skipped -------------------------------------------------------

def write_photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gradient()).save(path, format="PNG" if path.suffix.lower() in (".png", ".apng") else "JPEG")
    return path


def test_the_lister_reaches_every_image_a_user_expects(tmp_path):
    root = tmp_path / "photos"
    expected = [write_photo(root / "A.JPG"), write_photo(root / "b.jpeg"), write_photo(root / "c.JFIF"),
                write_photo(root / "sub" / "d.Png")]
    outside = write_photo(tmp_path / "elsewhere" / "e.jpg")
    (root / "linked").symlink_to(outside.parent, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    write_photo(root / "._A.JPG")
    write_photo(root / ".cache" / "f.jpg")
    (root / "notes.txt").write_text("not a photo")
    listing = list_images(root)
    assert sorted(listing.paths) == sorted(expected + [root / "linked" / "e.jpg"])
    reasons = {path.name: reason for path, reason in listing.skipped}
    assert reasons["._A.JPG"] == "hidden" and reasons[".cache"] == "hidden"
    assert reasons["notes.txt"].startswith("not an image suffix") and "link loop" in reasons["loop"]


def test_empty_folders_and_unmatched_globs_are_nothing_found(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    found = find_inputs([str(tmp_path / "empty"), str(tmp_path / "texts"), str(tmp_path / "*.png")])
    assert [type(item) for item in found.inputs] == [NothingFound] * 3
    assert "no files" in found.inputs[0].reason and "1 other file skipped" in found.inputs[1].reason
    assert "no file matches" in found.inputs[2].reason
    assert [path.name for path, _ in found.skipped] == ["a.txt"]


def invoke(*arguments) -> object:
    return CliRunner().invoke(cli.main, [str(argument) for argument in arguments])


def test_a_run_that_finds_nothing_says_so_and_exits_1(tmp_path):
    (tmp_path / "empty").mkdir()
    for source in (tmp_path / "empty", tmp_path / "no-such-*.jpg"):
        result = invoke(source, "--format", "json")
        assert result.exit_code == 1, result.output
        record = json.loads(result.stdout)
        assert record["source"] == str(source) and record["error"].startswith("nothing found")
        assert "No such file" not in result.stdout


def test_the_summary_counts_skipped_files_and_verbose_names_them(tmp_path):
    root = tmp_path / "photos"
    write_photo(root / "a.jpg")
    (root / "notes.txt").write_text("x")
    (root / "clip.mp4").write_bytes(b"")
    write_photo(root / "._a.jpg")
    result = invoke(root)
    assert result.exit_code == 0, result.output
    assert "1 input in" in result.stderr and "3 files skipped" in result.stderr
    assert "notes.txt" not in result.stderr
    verbose = invoke(root, "--verbose")
    for name in ("notes.txt", "clip.mp4", "._a.jpg"):
        assert f"{root / name}: " in verbose.stderr, name


def test_oversized_images_are_error_records_and_the_run_goes_on(tmp_path):
    write_photo(tmp_path / "small.png")
    Image.new("RGB", (300, 200)).save(tmp_path / "large.png")
    result = invoke(tmp_path, "--format", "json", "--max-pixels", "50000")
    assert result.exit_code == 1
    records = {Path(record["source"]).name: record for record in map(json.loads, result.stdout.splitlines())}
    assert "label" in records["small.png"] and "image too large" in records["large.png"]["error"]
    assert invoke(tmp_path, "--max-pixels", "0").exit_code == 0


def test_training_lists_a_class_folder_with_the_same_rules(tmp_path):
    from catdog.train.data import list_labelled_files

    for name in ("cats", "dogs"):
        write_photo(tmp_path / name / "one.JPG")
        write_photo(tmp_path / name / "deep" / "two.jfif")
        write_photo(tmp_path / name / "._one.JPG")
        (tmp_path / name / "readme.txt").write_text("x")
    files = list_labelled_files(tmp_path)
    runtime = [path for name in ("cats", "dogs") for path in list_images(tmp_path / name).paths]
    assert list(files.paths) == runtime and len(runtime) == 4
