"""Tests for catdog.runtime.live: files in order, newest-only live delivery, open errors, reconnects.

The live path is exercised with a small generated video opened through the same capture code a
camera uses; reconnection is tested with fake devices whose grab() fails mid-stream.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from catdog.errors import CatdogError, MissingExtraError  # noqa: E402
from catdog.runtime.live import Backoff, iter_frames, open_capture, prepare_frames, require_opencv  # noqa: E402
from catdog.runtime.live_capture import resolve_source  # noqa: E402
from catdog.runtime.preprocess import prepare_array  # noqa: E402
from catdog.runtime.spec import ModelSpec  # noqa: E402

FRAME_COUNT = 72
FRAME_RATE = 120.0  # a fast nominal rate keeps the real-time replay test under a second
WIDTH, HEIGHT = 160, 120


def frame_pixels(index: int) -> np.ndarray:
    """BGR frame: a red top strip, and the frame number in binary as white blocks below it."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:40, :, 2] = 255  # red in OpenCV's BGR order
    for bit in range(8):
        if index >> bit & 1:
            pixels[60:, bit * 20:(bit + 1) * 20] = 255
    return pixels


def decoded_number(image: np.ndarray) -> int:
    """Recover the frame number from an RGB frame (MJPG is lossy, so threshold block means)."""
    bits = [image[70:110, bit * 20 + 4:bit * 20 + 16].mean() > 128 for bit in range(8)]
    return sum(1 << bit for bit, is_set in enumerate(bits) if is_set)


@pytest.fixture(scope="module")
def video_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("live") / "pattern.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FRAME_RATE, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for index in range(FRAME_COUNT):
        writer.write(frame_pixels(index))
    writer.release()
    return path


def test_file_yields_every_frame_in_order_as_rgb(video_path):
    frames = list(iter_frames(video_path))
    assert [frame.index for frame in frames] == list(range(FRAME_COUNT))
    assert all(frame.image.shape == (HEIGHT, WIDTH, 3) and frame.image.dtype == np.uint8 for frame in frames)
    assert [decoded_number(frame.image) for frame in frames] == list(range(FRAME_COUNT))
    # Red must stay red: OpenCV's BGR is converted, not passed through.
    red, _, blue = frames[50].image[10, 10]
    assert red > 200 and blue < 50
    times = [frame.captured_at for frame in frames]
    assert times == sorted(times) and times[-1] <= time.perf_counter()


def test_file_honours_every_and_max_frames(video_path):
    assert [frame.index for frame in iter_frames(str(video_path), every=5, max_frames=4)] == [0, 5, 10, 15]
    assert [frame.index for frame in iter_frames(video_path, every=10)] == list(range(0, FRAME_COUNT, 10))
    assert list(iter_frames(video_path, max_frames=0)) == []
    with pytest.raises(CatdogError, match="every"):
        iter_frames(video_path, every=0)


def test_live_replay_delivers_only_the_newest_frame(video_path):
    stream = iter_frames(video_path, live=True)
    indexes = []
    for frame in stream:
        assert decoded_number(frame.image) == frame.index
        indexes.append(frame.index)
        time.sleep(0.03)  # a consumer slower than the 120 fps source
    assert indexes == sorted(set(indexes)), "a frame older than one already delivered came back"
    assert len(indexes) < FRAME_COUNT and stream.dropped > 0
    assert indexes[-1] >= FRAME_COUNT - 3, "the newest frames must not be lost at the end"
    assert not stream.running and stream.capture.closed


def test_breaking_out_stops_the_capture_thread(video_path):
    stream = iter_frames(video_path, live=True)
    with stream:
        for frame in stream:
            if frame.index >= 2:
                break
    stream._thread.join(2.0)
    assert not stream.running and stream.capture.closed


def test_dropping_an_unfinished_stream_stops_its_thread(video_path):
    for frame in iter_frames(video_path, live=True):
        break  # no `with`, no close(): the finalizer must still stop the reader
    for thread in threading.enumerate():
        if thread.name.startswith("catdog-capture"):
            thread.join(2.0)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("catdog-capture")]


def test_interrupt_inside_the_loop_releases_the_source(video_path):
    stream = iter_frames(video_path)
    with pytest.raises(KeyboardInterrupt):
        with stream:
            for _ in stream:
                raise KeyboardInterrupt
    stream._thread.join(2.0)
    assert not stream.running and stream.capture.closed


def test_prepare_frames_keeps_order_and_matches_prepare_array(video_path):
    spec = ModelSpec(image_size=(32, 48), labels=("a", "b"))
    with iter_frames(video_path, every=3) as frames:
        pairs = list(prepare_frames(frames, spec=spec, workers=3))
    assert [frame.index for frame, _ in pairs] == list(range(0, FRAME_COUNT, 3))
    for frame, pixels in pairs[:5]:
        assert pixels.shape == (32, 48, 3) and pixels.dtype == np.uint8
        assert np.array_equal(pixels, prepare_array(frame.image, spec=spec))


def test_sources_are_classified():
    assert resolve_source(0).kind == "camera"
    assert resolve_source("2").target == 2
    url = resolve_source("rtsp://user:secret@cam.local:554/live")
    assert url.kind == "url" and "secret" not in url.describe()
    assert resolve_source("http://cam.local/video.mjpg").live


def test_sources_that_cannot_be_opened_raise_one_line_errors(tmp_path):
    with pytest.raises(CatdogError, match="video file not found"):
        iter_frames(tmp_path / "missing.avi")
    not_a_video = tmp_path / "notes.avi"
    not_a_video.write_text("this is not a video")
    with pytest.raises(CatdogError, match="cannot read video file"):
        open_capture(not_a_video)
    with pytest.raises(CatdogError, match="cannot open camera 97"):
        iter_frames("97")


def test_missing_opencv_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(MissingExtraError, match=r"catdog\[camera\]"):
        require_opencv()


class FakeDevice:
    """A VideoCapture stand-in that delivers `frames` frames and then fails every grab."""

    def __init__(self, *, frames: int, opened: bool = True):
        self.frames_left = frames
        self.opened = opened
        self.released = False

    def isOpened(self):
        return self.opened

    def grab(self):
        if not self.opened or self.frames_left <= 0:
            return False
        self.frames_left -= 1
        return True

    def retrieve(self):
        return True, np.full((4, 4, 3), 7, np.uint8)

    def get(self, prop):
        return 0.0

    def release(self):
        self.released = True


class FakeOpener:
    """Hands out prepared devices in order, then devices that cannot be opened."""

    def __init__(self, *devices: FakeDevice):
        self.devices = list(devices)
        self.opened = []

    def __call__(self, source):
        device = self.devices.pop(0) if self.devices else FakeDevice(frames=0, opened=False)
        self.opened.append(device)
        return device


@dataclass(frozen=True)
class RecordingBackoff(Backoff):
    """Backoff that records the attempts it was asked about and never sleeps."""

    attempts: list = field(default_factory=list)

    def delay(self, attempt: int) -> float:
        self.attempts.append(attempt)
        return 0.0


def test_backoff_doubles_up_to_its_cap():
    assert [Backoff().delay(attempt) for attempt in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_dropped_stream_reconnects_then_gives_up_with_a_clear_error():
    opener = FakeOpener(FakeDevice(frames=3), FakeDevice(frames=4))
    backoff = RecordingBackoff()
    indexes = []
    with pytest.raises(CatdogError, match="lost camera 0: no frames after 2 reconnect attempts"):
        for frame in iter_frames(0, live=False, reconnects=2, backoff=backoff, opener=opener):
            indexes.append(frame.index)
    assert indexes == list(range(7)), "frames from before and after the reconnect all arrive"
    # The successful reconnect resets the count, so the final outage gets the full two attempts.
    assert backoff.attempts == [0, 0, 1]
    assert len(opener.opened) == 4 and all(device.released for device in opener.opened)


def test_zero_reconnects_fails_on_the_first_drop():
    opener = FakeOpener(FakeDevice(frames=2))
    frames = iter_frames("rtsp://cam.local/live", reconnects=0, backoff=RecordingBackoff(), opener=opener)
    with pytest.raises(CatdogError, match="lost stream rtsp://cam.local/live"):
        list(frames)
    assert len(opener.opened) == 1


def test_a_file_ends_without_reconnecting(video_path):
    opener = FakeOpener(FakeDevice(frames=3))
    frames = list(iter_frames(video_path, opener=opener, backoff=RecordingBackoff()))
    assert [frame.index for frame in frames] == [0, 1, 2] and len(opener.opened) == 1


def test_close_interrupts_a_long_backoff_wait():
    opener = FakeOpener(FakeDevice(frames=1))
    stream = iter_frames(0, backoff=Backoff(initial=30.0), opener=opener)
    assert next(stream).index == 0
    time.sleep(0.1)  # let the reader reach its 30-second reconnection wait
    started = time.perf_counter()
    stream.close()
    assert time.perf_counter() - started < 2.0
    assert not stream.running
    assert opener.opened[0].released
