"""Tests for `catdog-run --camera picam`: Raspberry Pi cameras through Picamera2, with a stand-in.

No real camera can be had here, so these tests import tests/standins/picamera2, a module that
is clearly named a stand-in and follows Picamera2's documented API and channel order ("RGB888"
arrays hold B, G, R). The colour tests use scenes whose channels differ, so a missing or
doubled R/B swap turns red into blue and fails them.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import write_class_folder
from catdog.errors import CatdogError, MissingExtraError
from catdog.runtime import live_device
from catdog.runtime.cli import main
from catdog.runtime.live import Backoff, iter_frames
from catdog.runtime.live_capture import resolve_source
from catdog.runtime.live_picamera import PicameraDevice, parse_picamera

STANDINS = Path(__file__).parent / "standins"
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture
def standin(monkeypatch):
    """The stand-in picamera2 module, fresh and importable as `picamera2`."""
    monkeypatch.syspath_prepend(str(STANDINS))
    for name in ("PICAMERA2_STANDIN_SCENE", "PICAMERA2_STANDIN_CAMERAS", "PICAMERA2_STANDIN_FPS",
                 "PICAMERA2_STANDIN_EVENTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    module = importlib.import_module("picamera2")
    assert module.STANDIN and "STAND-IN" in module.__doc__ and "STAND-IN" in module.Picamera2.__doc__
    module.reset()
    yield module
    for camera in module.opened:
        camera.close()
    module.reset()


def bands() -> np.ndarray:
    """A scene of red, green and blue vertical bands, left to right."""
    scene = np.zeros((120, 180, 3), np.uint8)
    scene[:, :60], scene[:, 60:120], scene[:, 120:] = RED, GREEN, BLUE
    return scene


def band_colours(image: np.ndarray) -> list[tuple[int, ...]]:
    """The mean RGB colour at the middle of each third of an image, rounded to 0 or 255."""
    height, width = image.shape[:2]
    return [tuple(int(round(value / 255) * 255) for value in image[height // 2, width * (2 * third + 1) // 6])
            for third in range(3)]


def picamera_opener(**options):
    return lambda source: PicameraDevice(int(source.target), **options)


def test_catdog_run_help_names_the_pi_camera_and_the_service():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "picam:N" in result.output and "python3-picamera2" in result.output and "--systemd-unit" in result.output


def test_picam_names_parse_and_resolve():
    assert [parse_picamera(text) for text in ("picam", "picam:2", " PICAM:1 ", "picam:", "cam", 3)] == \
        [0, 2, 1, None, None, None]
    source = resolve_source("picam:1")
    assert (source.kind, source.target, source.live) == ("picam", 1, True)
    assert "picam:1" in source.describe()


@pytest.mark.parametrize("fmt", ["RGB888", "XRGB8888"])
@pytest.mark.parametrize("opencv", [True, False], ids=["opencv", "no-opencv"])
def test_frames_come_out_in_rgb(standin, monkeypatch, fmt, opencv):
    if opencv:
        pytest.importorskip("cv2")
    else:  # a Pi with Picamera2 but no OpenCV converts with numpy
        monkeypatch.setattr(live_device, "optional_opencv", lambda: None)
    standin.scene = bands()
    with iter_frames("picam", max_frames=2, opener=picamera_opener(fmt=fmt)) as frames:
        images = [frame.image for frame in frames]
    assert len(images) == 2
    for image in images:
        assert image.shape == (480, 640, 3) and image.dtype == np.uint8
        assert band_colours(image) == [RED, GREEN, BLUE]


def test_a_pure_red_scene_is_red_through_catdog_run(standin, tmp_path):
    """End to end with the default format (RGB888, B,G,R in memory): the model sees red, not blue."""
    standin.scene = np.full((48, 64, 3), RED, np.uint8)
    seen = []
    from catdog.runtime import pipeline

    original = pipeline.prepare_array

    def spy(image, **kwargs):
        seen.append(image[image.shape[0] // 2, image.shape[1] // 2].tolist())
        return original(image, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "prepare_array", spy)
        result = CliRunner().invoke(main, ["--camera", "picam", "--max-frames", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert seen and all(pixel == list(RED) for pixel in seen)


def test_records_name_the_camera_and_measure_capture_to_decision(standin):
    result = CliRunner().invoke(main, ["--camera", "picam:0", "--max-frames", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3 and {record["source"] for record in records} == {"picam:0"}
    frames = [record["frame"] for record in records]
    assert frames == sorted(frames) and len(set(frames)) == 3
    assert all(record["latency_ms"] > 0 for record in records)


def test_the_camera_is_configured_as_documented_and_closed_at_the_end(standin):
    result = CliRunner().invoke(main, ["--camera", "picam", "--max-frames", "2"])
    assert result.exit_code == 0, result.output
    (camera,) = standin.opened
    stream = camera.camera_config["main"]
    assert (stream["format"], stream["size"]) == ("RGB888", (640, 480))
    assert camera.camera_config["use_case"] == "video"
    assert not camera.is_open and not camera.started and camera.close_calls >= 1


def test_ctrl_c_closes_the_camera(standin, monkeypatch):
    from catdog.runtime import output

    writes = []

    def interrupting_write(self, prediction):
        writes.append(prediction)
        if len(writes) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(output.PredictionWriter, "write", interrupting_write)
    result = CliRunner().invoke(main, ["--camera", "picam"])
    assert result.exit_code == 130 and "(interrupted)" in result.stderr
    (camera,) = standin.opened
    assert not camera.is_open and camera.close_calls >= 1


def test_a_camera_that_stops_is_reopened_then_given_up_on(standin):
    # Camera 1 gives 2 frames and then times out, camera 2 gives 3, cameras 3 and 4 none.
    standin.frame_budget.extend([2, 3, 0, 0])
    frames = []
    with pytest.raises(CatdogError, match=r"lost Raspberry Pi camera picam:0: no frames after 2 reconnect"):
        for frame in iter_frames("picam", reconnects=2, backoff=Backoff(initial=0.01, factor=1.0),
                                 opener=picamera_opener(grab_timeout=0.05)):
            frames.append(frame.index)
    assert len(standin.opened) == 4
    assert all(not camera.is_open and camera.close_calls >= 1 for camera in standin.opened)
    assert len(frames) > 2 and frames == sorted(frames)  # the reopened camera delivered too


def test_save_writes_the_camera_run_as_an_mp4_in_true_colours(standin, tmp_path):
    cv2 = pytest.importorskip("cv2")
    standin.scene = bands()
    result = CliRunner().invoke(main, ["--camera", "picam", "--max-frames", "3", "--save", str(tmp_path)])
    assert result.exit_code == 0, result.output
    video = tmp_path / "picam_0.mp4"
    capture = cv2.VideoCapture(str(video))
    read, pixels = capture.read()
    capture.release()
    assert read and pixels.shape == (480, 640, 3)
    # Below the drawn caption, the bands keep their colours (the MP4 reads back as BGR).
    lower = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)[240:]
    assert band_colours(lower) == [RED, GREEN, BLUE]


def test_missing_picamera2_says_how_to_install_it_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(MissingExtraError) as error:
        iter_frames("picam")
    message = str(error.value)
    assert "\n" not in message
    assert "sudo apt install python3-picamera2" in message and "--system-site-packages" in message
    result = CliRunner().invoke(main, ["--camera", "picam"])
    assert result.exit_code == 2 and "python3-picamera2" in result.stderr


def test_unknown_missing_and_busy_cameras_are_one_line_errors(standin):
    with pytest.raises(CatdogError, match=r"no Raspberry Pi camera picam:1: libcamera lists picam:0 imx708"):
        iter_frames("picam:1")
    holder = standin.Picamera2(camera_num=0)
    with pytest.raises(CatdogError, match=r"cannot open Raspberry Pi camera picam:0 \(imx708\).*another program"):
        iter_frames("picam")
    holder.close()
    standin.cameras = []
    with pytest.raises(CatdogError, match="no Raspberry Pi camera found"):
        iter_frames("picam")


class UnopenedDevice:
    """What cv2.VideoCapture(N) gives when there is no V4L2 camera N."""

    def isOpened(self):
        return False

    def release(self):
        pass


def test_a_v4l2_index_on_a_pi_with_a_csi_camera_points_to_picam(standin):
    with pytest.raises(CatdogError, match=r"cannot open camera 0 as a V4L2 device; .*use --camera picam") as error:
        iter_frames(0, opener=lambda source: UnopenedDevice())
    assert "\n" not in str(error.value)
    standin.cameras = []  # no libcamera camera: the plain message
    with pytest.raises(CatdogError, match=r"cannot open camera 0: check that it is connected") as error:
        iter_frames(0, opener=lambda source: UnopenedDevice())
    assert "picam" not in str(error.value)


@pytest.mark.parametrize("value", ["-1", "picamx", "picam:a"])
def test_a_bad_camera_value_is_a_usage_error(value):
    result = CliRunner().invoke(main, ["--camera", value])
    assert result.exit_code == 2 and "--camera" in result.stderr


def test_a_picamera2_that_breaks_on_import_is_one_line_not_not_installed(tmp_path, monkeypatch):
    """The system's Picamera2 under a venv's NumPy 2 fails inside its import (picamera2#1088)."""
    package = tmp_path / "picamera2"
    package.mkdir()
    (package / "__init__.py").write_text('"""Stand-in that fails like python3-picamera2 under NumPy 2."""\n'
                                         'raise ValueError("numpy.dtype size changed, may indicate binary '
                                         'incompatibility. Expected 96 from C header, got 88 from PyObject")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    monkeypatch.setattr(np, "__version__", "2.4.6")
    with pytest.raises(CatdogError) as error:
        iter_frames("picam")
    message = str(error.value)
    assert not isinstance(error.value, MissingExtraError) and "\n" not in message
    assert "installed but cannot be imported (numpy.dtype size changed" in message and "numpy<2" in message


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 3), (6, 5, 4)], ids=["grey", "bgr", "bgra"])
def test_to_rgb_without_opencv_matches_opencv(shape, monkeypatch):
    pytest.importorskip("cv2")
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with_opencv = live_device.to_rgb(pixels)
    monkeypatch.setattr(live_device, "optional_opencv", lambda: None)
    without = live_device.to_rgb(pixels)
    assert without.shape == shape[:2] + (3,) and np.array_equal(without, with_opencv)


def test_missing_opencv_on_a_pi_points_to_apt_not_the_pip_wheel(monkeypatch):
    from catdog.runtime import live_picamera

    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setattr(live_picamera, "on_raspberry_pi", lambda: True)
    with pytest.raises(MissingExtraError, match=r"sudo apt install python3-opencv"):
        live_device.require_opencv()
    monkeypatch.setattr(live_picamera, "on_raspberry_pi", lambda: False)
    with pytest.raises(MissingExtraError, match=r"pip install 'catdog\[camera\]'"):
        live_device.require_opencv()


def test_a_camera_runs_out_file_is_fsynced_after_every_record_and_a_file_job_at_most_once_a_second(
        standin, tmp_path, monkeypatch):
    import catdog.runtime.output as output

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(output.os, "fsync", lambda descriptor: (synced.append(descriptor), real_fsync(descriptor)))
    result = CliRunner().invoke(main, ["--camera", "picam", "--max-frames", "4", "--out", str(tmp_path / "camera.jsonl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "camera.jsonl").read_text().count("\n") == 4 and len(synced) == 4  # a power cut loses <= 1

    synced.clear()
    write_class_folder(tmp_path / "photos", per_class=10)
    result = CliRunner().invoke(main, [str(tmp_path / "photos"), "--out", str(tmp_path / "photos.jsonl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "photos.jsonl").read_text().count("\n") == 20 and len(synced) < 20
