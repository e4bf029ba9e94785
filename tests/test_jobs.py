"""Tests for `catdog-run --out`: results files that are appended, refused, replaced and resumed exactly once."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.runtime.cli import main
from catdog.runtime.results import open_results
from conftest import build_onnx_model, catdog_metadata, write_class_folder


@pytest.fixture
def model(tmp_path) -> Path:
    return build_onnx_model(tmp_path / "tiny.onnx", metadata=catdog_metadata())


@pytest.fixture
def photos(tmp_path) -> Path:
    """6 good JPEGs, one corrupt .jpg and one text file (skipped by the folder walk)."""
    root = write_class_folder(tmp_path / "photos", per_class=3, size=(30, 20))
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


def invoke(*arguments):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def json_lines(path: Path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def sources_of(path: Path) -> list[str]:
    if path.suffix == ".csv":
        with open(path, newline="") as handle:
            return [row["source"] for row in csv.DictReader(handle)]
    return [record["source"] for record in json_lines(path)]


EXPECTED = 7  # 6 photos + the corrupt one


@pytest.mark.parametrize("name", ["results.jsonl", "results.csv"])
def test_out_writes_one_record_per_source_and_refuses_to_overwrite(model, photos, tmp_path, name):
    out = tmp_path / name
    result = invoke(photos, "--model", model, "--out", out)
    assert result.exit_code == 1, result.output  # the corrupt photo is an error record
    assert result.stdout == ""  # records go to the file
    sources = sources_of(out)
    assert len(sources) == len(set(sources)) == EXPECTED
    before = out.read_bytes()
    again = invoke(photos, "--model", model, "--out", out)
    assert again.exit_code == 2
    assert again.stderr.count("\n") == 1 and "--resume" in again.stderr and "--force" in again.stderr
    assert out.read_bytes() == before
    forced = invoke(photos / "cats", "--model", model, "--out", out, "--force")
    assert forced.exit_code == 0, forced.output
    assert len(sources_of(out)) == 3


@pytest.mark.parametrize("name", ["results.jsonl", "results.csv"])
def test_resume_writes_only_what_is_missing(model, photos, tmp_path, name):
    out = tmp_path / name
    invoke(photos, "--model", model, "--out", out)
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-3]))  # as if the job had stopped three records early
    result = invoke(photos, "--model", model, "--out", out, "--resume")
    assert "3 inputs in" in result.stderr and "4 skipped as already done" in result.stderr, result.stderr
    assert out.read_text().startswith("".join(lines[:-3]))  # what was written stays as it was
    sources = sources_of(out)
    assert len(sources) == len(set(sources)) == EXPECTED
    done = invoke(photos, "--model", model, "--out", out, "--resume")
    assert done.exit_code == 0 and "0 inputs in" in done.stderr and f"{EXPECTED} skipped as already done" in done.stderr


@pytest.mark.parametrize("name", ["results.jsonl", "results.csv"])
def test_a_torn_last_line_is_cut_away_and_its_source_redone(model, photos, tmp_path, name):
    out = tmp_path / name
    invoke(photos, "--model", model, "--out", out)
    whole = out.read_bytes()
    last = whole[:-1].rsplit(b"\n", 1)[1] + b"\n"
    out.write_bytes(whole[:-len(last)] + last[:len(last) // 2])  # a kill in the middle of a write
    result = invoke(photos, "--model", model, "--out", out, "--resume")
    assert "1 input in" in result.stderr, result.stderr
    repaired = out.read_bytes()
    assert repaired.endswith(b"\n") and last[:len(last) // 2] + b"\n" not in repaired
    sources = sources_of(out)
    assert len(sources) == len(set(sources)) == EXPECTED


def test_error_records_count_as_done_unless_retry_errors(model, photos, tmp_path):
    out = tmp_path / "results.jsonl"
    invoke(photos, "--model", model, "--out", out)
    kept = invoke(photos, "--model", model, "--out", out, "--resume")
    assert kept.exit_code == 0 and "0 inputs in" in kept.stderr
    (photos / "broken.jpg").write_bytes((photos / "cats" / "cat.0.jpg").read_bytes())  # the user fixed it
    retried = invoke(photos, "--model", model, "--out", out, "--resume", "--retry-errors")
    assert retried.exit_code == 0, retried.stderr
    assert "1 input in" in retried.stderr and "6 skipped as already done" in retried.stderr
    records = json_lines(out)
    assert len(records) == EXPECTED and not any("error" in record for record in records)
    assert {record["source"] for record in records} == {str(path) for path in sorted(photos.rglob("*.jpg"))}


def test_append_adds_records_without_skipping(model, photos, tmp_path):
    out = tmp_path / "results.csv"
    invoke(photos / "cats", "--model", model, "--out", out)
    result = invoke(photos / "cats", "--model", model, "--out", out, "--append")
    assert result.exit_code == 0, result.stderr
    rows = out.read_text().splitlines()
    assert rows[0].startswith("source,") and sum(row.startswith("source,") for row in rows) == 1
    assert len(rows) == 1 + 6
    fresh = tmp_path / "new.jsonl"
    assert invoke(photos / "cats", "--model", model, "--out", fresh, "--append").exit_code == 0
    assert len(json_lines(fresh)) == 3


def test_a_file_named_twice_gets_one_record(model, photos, tmp_path):
    out = tmp_path / "results.jsonl"
    photo = photos / "cats" / "cat.0.jpg"
    assert invoke(photo, photo, "--model", model, "--out", out).exit_code == 0
    assert sources_of(out) == [str(photo)]


@pytest.mark.parametrize("arguments, message", [
    (["--resume"], "--resume needs --out"),
    (["--out", "r.jsonl", "--resume", "--force"], "cannot be combined"),
    (["--out", "r.jsonl", "--retry-errors"], "--retry-errors needs --resume"),
    (["--out", "r.txt"], "name it .jsonl or .csv"),
    (["--out", "r.csv", "--format", "json"], "does not match"),
    (["--out", "r.jsonl", "--format", "text"], "cannot be resumed"),
    (["--out", "clip.mp4.jsonl", "--resume", "clip.mp4"], "use --append"),
])
def test_results_flag_mistakes_are_one_line_usage_errors(model, photos, tmp_path, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(photos, "--model", model, *arguments)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_csv_of_other_labels_is_refused(model, photos, tmp_path):
    out = tmp_path / "results.csv"
    out.write_text("source,frame,label,p_apple,p_pear,latency_ms,error\n")
    result = invoke(photos, "--model", model, "--out", out, "--resume")
    assert result.exit_code == 2 and "other CSV columns" in result.stderr


def test_a_foreign_line_is_refused_not_dropped(model, photos, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"source": "a.jpg", "error": "x"}\nhello\n{"source": "b.jpg", "error": "x"}\n')
    result = invoke(photos, "--model", model, "--out", out, "--resume")
    assert result.exit_code == 2 and "line 2 of" in result.stderr
    assert out.read_text().count("\n") == 3


def test_a_second_job_on_the_same_file_is_refused(tmp_path):
    out = tmp_path / "results.jsonl"
    first = open_results(out, output_format="json", labels=("cat", "dog"), mode="append")
    try:
        for mode in ("append", "resume", "force"):
            with pytest.raises(Exception, match="another catdog-run"):
                open_results(out, output_format="json", labels=("cat", "dog"), mode=mode)
    finally:
        first.close()


def write_many_photos(folder: Path, *, distinct: int = 12, count: int = 1200) -> list[Path]:
    """`count` photos under distinct names, links to a few 640x480 PNGs (slow enough to kill mid-run)."""
    folder.mkdir()
    originals = folder / ".originals"  # hidden: not listed
    originals.mkdir()
    rng = np.random.default_rng(0)
    for index in range(distinct):
        pixels = rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(originals / f"{index}.png", compress_level=1)
    paths = []
    for index in range(count):
        path = folder / f"photo{index:05d}.png"
        path.symlink_to(originals / f"{index % distinct}.png")
        paths.append(path)
    return paths


def test_sigkill_mid_run_then_resume_gives_exactly_one_record_per_source(model, tmp_path):
    photos = write_many_photos(tmp_path / "many")
    out = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "catdog.runtime.cli", str(tmp_path / "many"), "--model", str(model),
               "--out", str(out), "--batch-size", "4"]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    kills = 0
    for threshold in (100, 400, 800):  # kill three times, each later in the job
        process = subprocess.Popen(command + (["--resume"] if out.exists() else []), env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") >= threshold:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        process.wait(timeout=60)
        kills += process.returncode == -signal.SIGKILL
    assert kills >= 2, "the job finished before it could be killed: make it longer"
    final = subprocess.run(command + ["--resume"], env=environment, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert "skipped as already done" in final.stderr
    records = json_lines(out)
    assert sorted(record["source"] for record in records) == sorted(str(path) for path in photos)
    assert all("label" in record for record in records)


def test_help_lists_the_job_options():
    result = invoke("--help")
    assert result.exit_code == 0
    for option in ("--out", "--resume", "--retry-errors", "--append", "--force", "--ray", "--actors"):
        assert option in result.output


def test_resume_of_a_missing_file_starts_the_job(model, photos, tmp_path):
    out = tmp_path / "new.jsonl"
    result = invoke(photos, "--model", model, "--out", out, "--resume")
    assert result.exit_code == 1 and len(sources_of(out)) == EXPECTED  # 1: the corrupt photo
