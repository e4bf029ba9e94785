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
from conftest import (FRUIT, FRUIT_SPEC, build_onnx_model, build_softmax_onnx, catdog_metadata, spec_metadata,
                      write_class_folder, write_colour_images)


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


# --- the model's own labels, top-k, safe CSV headers ------------------------------------------------


@pytest.fixture
def fruit_model(tmp_path) -> Path:
    return build_softmax_onnx(tmp_path / "fruit.onnx", metadata=spec_metadata(FRUIT_SPEC))


def without_folder(text: str, folder: Path) -> str:
    """Output with the temporary folder's path removed, so only what catdog wrote is checked."""
    return text.replace(str(folder), "<tmp>")


def test_three_class_model_speaks_only_of_its_labels_in_every_format(fruit_model, tmp_path):
    images = write_colour_images(tmp_path / "images", count=6)
    expected = [FRUIT[index % 3] for index in range(6)]
    text = invoke(tmp_path / "images", "--model", fruit_model)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert [line.split("  ")[1].split(" ")[0] for line in lines] == expected
    records = json_records(invoke(tmp_path / "images", "--model", fruit_model, "--format", "json").stdout)
    assert [record["label"] for record in records] == expected
    assert all(list(record["probabilities"]) == list(FRUIT) for record in records)
    assert all(sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5) for record in records)
    table = invoke(tmp_path / "images", "--model", fruit_model, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert list(rows[0]) == ["source", "frame", "label", "p_apple", "p_banana", "p_cherry", "latency_ms", "error"]
    assert [row["label"] for row in rows] == expected and [row["source"] for row in rows] == [str(p) for p in images]
    everything = without_folder(text.output + "".join(json.dumps(r) for r in records) + table.output, tmp_path)
    assert "cat" not in everything.lower() and "dog" not in everything.lower()


def test_top_k_shows_the_most_probable_labels_in_text_and_json(fruit_model, tmp_path):
    write_colour_images(tmp_path / "images", count=3)
    text = invoke(tmp_path / "images" / "img2.png", "--model", fruit_model, "--top-k", "3")
    assert text.exit_code == 0, text.output
    pairs = re.findall(r"(apple|banana|cherry) (\d+\.\d)%", text.stdout)
    assert [label for label, _ in pairs][0] == "cherry" and len(pairs) == 3
    assert [float(value) for _, value in pairs] == sorted((float(value) for _, value in pairs), reverse=True)
    records = json_records(invoke(tmp_path / "images", "--model", fruit_model, "--format", "json", "--top-k", "2").stdout)
    assert all(len(record["top_k"]) == 2 and record["top_k"][0]["label"] == record["label"] for record in records)
    plain = json_records(invoke(tmp_path / "images", "--model", fruit_model, "--format", "json").stdout)
    assert all("top_k" not in record for record in plain)
    too_many = invoke(tmp_path / "images", "--model", fruit_model, "--top-k", "4")
    assert too_many.exit_code == 2 and "the model's 3 labels" in too_many.output


def test_csv_headers_are_made_safe_and_distinct(tmp_path):
    from catdog.runtime.output import probability_columns

    assert probability_columns(["granny smith", "a-b", "a b", "a_b_2", "é"]) == [
        "p_granny_smith", "p_a_b", "p_a_b_2", "p_a_b_2_2", "p__"]
    spec = FRUIT_SPEC.replace(labels=("red apple", "red-apple", "blue,berry"))
    model = build_softmax_onnx(tmp_path / "odd.onnx", metadata=spec_metadata(spec))
    write_colour_images(tmp_path / "images", count=3)
    result = invoke(tmp_path / "images", "--model", model, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "source,frame,label,p_red_apple,p_red_apple_2,p_blue_berry,latency_ms,error"
    assert [row["label"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["red apple", "red-apple", "blue,berry"]


def test_spec_that_disagrees_with_the_model_exits_2_with_one_line(tmp_path):
    model = build_softmax_onnx(tmp_path / "wrong.onnx", metadata=spec_metadata(FRUIT_SPEC.replace(image_size=(64, 64))))
    write_colour_images(tmp_path / "images", count=2)
    result = invoke(tmp_path / "images", "--model", model)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "its spec says 64x64x3" in result.stderr


def test_model_without_metadata_warns_once_and_uses_class_names(tmp_path):
    model = build_softmax_onnx(tmp_path / "bare.onnx", batch=1)
    write_colour_images(tmp_path / "images", count=7)
    result = invoke(tmp_path / "images", "--model", model, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split(",")[3:6] == ["p_class_0", "p_class_1", "p_class_2"]
    assert len(result.stdout.splitlines()) == 8
    warnings = [line for line in result.stderr.splitlines() if "no catdog metadata" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: ")


# --- file names that are not valid UTF-8 ---------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
@pytest.mark.parametrize("output_format", ["text", "csv", "json"])
def test_non_utf8_file_names_get_a_record_in_every_format(fruit_model, tmp_path, output_format):
    import base64
    import subprocess
    import sys

    folder = tmp_path / "images"
    write_colour_images(folder, count=2)
    latin1 = os.path.join(os.fsencode(folder), b"caf\xe9.png")  # Latin-1 "café": not valid UTF-8
    os.rename(os.fsencode(folder / "img0.png"), latin1)
    environment = {**os.environ, "PYTHONIOENCODING": "utf-8"}  # strict: surrogates cannot be encoded
    result = subprocess.run([sys.executable, "-m", "catdog.runtime.cli", str(folder), "--model", str(fruit_model),
                             "--format", output_format], capture_output=True, env=environment, timeout=60)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    stdout = result.stdout.decode("utf-8")  # the output itself is valid UTF-8
    assert "2 inputs" in result.stderr.decode("utf-8", "replace")
    if output_format == "json":
        records = json_records(stdout)
        assert len(records) == 2
        odd = next(record for record in records if "source_bytes_b64" in record)
        assert odd["source"].endswith("caf\\xe9.png") and odd["label"] == "apple"
        assert base64.b64decode(odd["source_bytes_b64"]) == latin1  # reversible, to the byte
        assert os.fsdecode(base64.b64decode(odd["source_bytes_b64"])) == os.fsdecode(latin1)
        assert [record for record in records if record is not odd][0]["source"] == str(folder / "img1.png")
    else:
        lines = stdout.splitlines()[1:] if output_format == "csv" else stdout.splitlines()
        assert len(lines) == 2 and any("caf\\xe9.png" in line for line in lines)
        assert any("img1.png" in line for line in lines)


def test_display_names_escape_bad_bytes_and_control_characters():
    from catdog.runtime.output import display_name, format_text
    from catdog.runtime.prediction import make_error

    assert display_name(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert display_name("two\nlines\x1b.png") == "two\\x0alines\\x1b.png"
    assert display_name("café.png") == "café.png"
    line = format_text(make_error("cannot open " + os.fsdecode(b"\xff.png"), source=os.fsdecode(b"\xff.png")))
    assert line == "\\xff.png  error: cannot open \\xff.png"
