"""Tests for `catdog-run`: output formats, bad inputs, exit codes and streams, on tiny generated models."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.runtime.cli import main
from conftest import write_class_folder
from test_runtime import build_onnx_model, catdog_metadata


@pytest.fixture
def model(tmp_path) -> Path:
    return build_onnx_model(tmp_path / "tiny.onnx", metadata=catdog_metadata())


@pytest.fixture
def photos(tmp_path) -> Path:
    return write_class_folder(tmp_path / "photos", per_class=3, size=(30, 20))


def invoke(*arguments: str):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def json_records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_help_lists_every_option():
    result = invoke("--help")
    assert result.exit_code == 0
    for option in ("--model", "--camera", "--format", "--top-k", "--threads", "--batch-size", "--max-frames",
                   "--every", "--verbose"):
        assert option in result.output


def test_text_output_has_label_confidence_and_milliseconds(model, photos):
    result = invoke(photos / "dogs" / "dog.0.jpg", "--model", model)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith(str(photos / "dogs" / "dog.0.jpg") + "  dog ")
    assert re.fullmatch(r".*  dog \d+\.\d%  \d+\.\d ms", line), line
    assert "1 input in" in result.stderr and "0 errors" in result.stderr


def test_json_lines_for_a_recursive_folder(model, photos):
    result = invoke(photos, "--model", model, "--format", "json", "--batch-size", "2", "--threads", "1")
    assert result.exit_code == 0, result.output
    records = json_records(result.stdout)
    assert len(records) == 6
    for record in records:
        assert set(record) == {"source", "label", "probabilities", "latency_ms"}
        assert record["label"] == ("cat" if "/cats/" in record["source"] else "dog")
        assert record["probabilities"]["cat"] + record["probabilities"]["dog"] == pytest.approx(1.0)
        assert record["latency_ms"] > 0


def test_csv_output_has_a_header_and_a_row_per_image(model, photos):
    result = invoke(photos / "cats" / "*.jpg", "--model", model, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 3 and {row["label"] for row in rows} == {"cat"}
    assert all(float(row["p_cat"]) > 0.5 and row["error"] == "" for row in rows)


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Every kind of unreadable input, each of which must become one error record."""
    folder.mkdir(parents=True, exist_ok=True)
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), np.uint8)).save(good, "JPEG")
    files = {
        "zero_byte": folder / "zero.jpg",
        "truncated": folder / "truncated.jpg",
        "corrupt": folder / "corrupt.jpg",
        "non_image": folder / "notes.jpg",
        "bomb": folder / "bomb.png",
    }
    files["zero_byte"].write_bytes(b"")
    files["truncated"].write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    files["corrupt"].write_bytes(good.getvalue()[:20] + bytes(range(256)) * 8)
    files["non_image"].write_text("these are my notes, not a photo\n")
    Image.new("RGB", (100, 100)).save(files["bomb"])
    return files


def test_bad_files_become_error_records_and_the_rest_still_run(model, photos, tmp_path, monkeypatch):
    # A tiny pixel limit turns the 100x100 PNG into a decompression bomb without writing a huge file.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    bad = write_bad_files(photos / "bad")
    result = invoke(photos, "--model", model, "--format", "json")
    assert result.exit_code == 1, result.output
    records = {Path(record["source"]).name: record for record in json_records(result.stdout)}
    assert len(records) == 6 + len(bad)
    for path in bad.values():
        assert "error" in records[path.name] and "label" not in records[path.name], path.name
    assert "DecompressionBomb" in records["bomb.png"]["error"]
    assert sum("label" in record for record in records.values()) == 6
    assert f"{len(bad)} errors" in result.stderr


def test_permission_denied_file_is_an_error_record(model, photos, monkeypatch):
    locked = photos / "cats" / "cat.0.jpg"
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        # Running as root ignores file modes, so the refusal is simulated at the open call.
        import catdog.runtime.pipeline as pipeline

        real_load = pipeline.load_image

        def refuse(source, **options):
            if Path(source) == locked:
                raise PermissionError(13, "Permission denied", str(source))
            return real_load(source, **options)

        monkeypatch.setattr(pipeline, "load_image", refuse)
    result = invoke(photos, "--model", model, "--format", "json")
    locked.chmod(0o644)
    assert result.exit_code == 1
    errors = [record for record in json_records(result.stdout) if "error" in record]
    assert len(errors) == 1 and "Permission denied" in errors[0]["error"]


def test_missing_input_is_an_error_record_with_exit_1(model, photos):
    result = invoke(photos / "cats" / "cat.0.jpg", photos / "nope.jpg", "--model", model)
    assert result.exit_code == 1
    assert "nope.jpg  error: FileNotFoundError" in result.stdout


@pytest.mark.parametrize("model_name, content, message", [
    ("model.h5", b"x", "unknown model type"),
    ("absent.tflite", None, "model not found"),
    ("garbage.onnx", b"not a model", "cannot load model"),
])
def test_unusable_model_exits_2_with_one_line(tmp_path, photos, model_name, content, message):
    if content is not None:
        (tmp_path / model_name).write_bytes(content)
    result = invoke(photos, "--model", tmp_path / model_name)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_sources_is_a_usage_error():
    result = invoke()
    assert result.exit_code == 2 and "nothing to classify" in result.stderr


def test_camera_that_cannot_open_exits_2(model, monkeypatch):
    from catdog.errors import CatdogError
    import catdog.runtime.live as live

    def fail(source, **options):
        raise CatdogError(f"cannot open camera {source}: is it connected?")

    monkeypatch.setattr(live, "iter_frames", fail)
    result = invoke("--camera", "7", "--model", model)
    assert result.exit_code == 2 and "cannot open camera 7" in result.stderr


def test_streams_report_frames_and_pass_every_and_max_frames_through(model, monkeypatch, tmp_path):
    import time

    from catdog.runtime.live import Frame
    import catdog.runtime.live as live

    calls = []

    def fake_frames(source, *, every=1, max_frames=None, **options):
        calls.append((source, every, max_frames))
        for index in range(0, 2 * every, every):
            image = np.zeros((48, 64, 3), np.uint8)
            image[..., 2] = 240
            yield Frame(image=image, index=index, captured_at=time.perf_counter())

    monkeypatch.setattr(live, "iter_frames", fake_frames)
    video = tmp_path / "clip.mp4"
    result = invoke(video, "--model", model, "--format", "json", "--every", "3", "--max-frames", "2")
    assert result.exit_code == 0, result.output
    assert calls == [(str(video), 3, 2)]
    records = json_records(result.stdout)
    assert [record["frame"] for record in records] == [0, 3]
    assert {record["label"] for record in records} == {"dog"} and all(r["latency_ms"] >= 0 for r in records)


def test_a_real_video_file_is_read_through_opencv(model, tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(5):
        writer.write(np.full((48, 64, 3), (230, 10, 10), np.uint8))  # BGR: blue frames
    writer.release()
    result = invoke(path, "--model", model, "--format", "json", "--max-frames", "3")
    assert result.exit_code == 0, result.output
    records = json_records(result.stdout)
    assert len(records) == 3 and {record["label"] for record in records} == {"dog"}
