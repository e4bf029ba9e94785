"""`catdog-run --save DIR`: annotated images and MP4s, never overwriting (catdog.runtime.annotate)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.runtime.annotate import draw_prediction, reserve, stream_file_name
from catdog.runtime.cli import main
from catdog.runtime.runner import RunConfig, run

# Where the label box is drawn (top left), and a patch far from it that must stay untouched.
BOX = (slice(0, 8), slice(0, 30))
FAR = (slice(-20, None), slice(-20, None))


def scene(index: int, *, width: int = 160, height: int = 120) -> np.ndarray:
    """A smooth RGB test frame that changes a little with `index` (compresses well, so MP4 stays close)."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([(x * 255 // width), (y * 255 // height), np.full_like(x, 120 + index)], axis=-1)
    return frame.astype(np.uint8)


def write_video(path: Path, *, frames: int, fps: float) -> Path:
    cv2 = pytest.importorskip("cv2")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    for index in range(frames):
        writer.write(cv2.cvtColor(scene(index), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.int16))
    capture.release()
    return frames, fps


def difference(first: np.ndarray, second: np.ndarray, region) -> float:
    return float(np.abs(first[region].astype(np.int16) - second[region].astype(np.int16)).mean())


def run_quietly(config: RunConfig) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    run(config, out=out, err=err)
    return out.getvalue(), err.getvalue()


def test_a_video_comes_back_as_an_mp4_with_every_frame_labelled(tmp_path):
    source = write_video(tmp_path / "clip.avi", frames=30, fps=10.0)
    output, messages = run_quietly(RunConfig(sources=(str(source),), save=tmp_path / "saved"))
    assert len(output.splitlines()) == 30
    saved = tmp_path / "saved" / "clip.mp4"
    assert f"saved {saved} (30 frames)" in messages
    originals, _ = read_video(source)
    annotated, fps = read_video(saved)
    assert len(annotated) == 30 and fps == pytest.approx(10.0)
    for original, frame in zip(originals, annotated):
        assert difference(original, frame, BOX) > 40  # the label box is drawn on every frame
        assert difference(original, frame, FAR) < 12  # and nothing else changed beyond compression


def test_every_nth_frame_keeps_the_videos_duration(tmp_path):
    source = write_video(tmp_path / "clip.avi", frames=30, fps=10.0)
    run_quietly(RunConfig(sources=(str(source),), save=tmp_path / "saved", every=3))
    annotated, fps = read_video(tmp_path / "saved" / "clip.mp4")
    assert len(annotated) == 10 and fps == pytest.approx(10.0 / 3, rel=0.01)


def test_an_image_folder_comes_back_annotated_and_nothing_is_overwritten(tmp_path):
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    Image.fromarray(scene(0)).save(photos / "a.png")
    Image.fromarray(scene(1)).save(photos / "b.jpg", quality=95)
    Image.fromarray(scene(2)).save(photos / "more" / "b.jpg", quality=95)  # same name, another folder
    (photos / "broken.jpg").write_bytes(b"not an image")
    saved = tmp_path / "saved"
    output, messages = run_quietly(RunConfig(sources=(str(photos),), save=saved))
    assert "saved 3 annotated images" in messages
    assert sorted(path.name for path in saved.iterdir()) == ["a.png", "b.jpg", "b_2.jpg"]
    for name, index in (("a.png", 0), ("b.jpg", 1), ("b_2.jpg", 2)):
        annotated = np.asarray(Image.open(saved / name).convert("RGB"))
        assert annotated.shape == scene(index).shape
        assert difference(scene(index), annotated, BOX) > 40
        assert difference(scene(index), annotated, FAR) < 6
    before = {path.name: path.read_bytes() for path in saved.iterdir()}
    run_quietly(RunConfig(sources=(str(photos / "a.png"),), save=saved))
    assert {path.name: path.read_bytes() for path in saved.iterdir() if path.name in before} == before
    assert (saved / "a_2.png").exists()


def test_draw_prediction_writes_label_and_confidence():
    class Decided:
        label, confidence = "dog", 0.971

    image = Image.fromarray(scene(0))
    annotated = draw_prediction(image, Decided())
    assert annotated is not image and annotated.size == image.size
    assert np.array_equal(np.asarray(image), scene(0))  # the caller's image is untouched


def test_reserve_never_returns_an_existing_file(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"keep")
    assert reserve(tmp_path, "x.jpg").name == "x_2.jpg"
    assert reserve(tmp_path, "x.jpg").name == "x_3.jpg"
    assert (tmp_path / "x.jpg").read_bytes() == b"keep"


@pytest.mark.parametrize("name, expected", [("videos/clip.avi", "clip.mp4"), ("camera:0", "camera_0.mp4"),
                                            ("rtsp://user:pw@host/live/cam 1?x=1", "cam_1.mp4"),
                                            ("http://host", "stream.mp4")])
def test_stream_file_names(name, expected):
    assert stream_file_name(name) == expected


def test_save_to_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("x")
    image = tmp_path / "a.png"
    Image.fromarray(scene(0)).save(image)
    result = CliRunner().invoke(main, [str(image), "--save", str(target)])
    assert result.exit_code == 2
    assert "--save" in result.output and "is a file" in result.output
