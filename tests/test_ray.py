"""Tests for Ray Data batch classification (catdog.runtime.ray and `catdog-run --ray`).

Tests marked `ray` start one local Ray (num_cpus=2) for the module and are not in the default
run (pyproject's addopts); CI runs them with `pytest -q -m ray`. The unmarked tests need Ray
installed but never start it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catdog.runtime.cli import main
from conftest import build_onnx_model, catdog_metadata, write_class_folder

RECORD_FIELDS = ("source", "label", "probabilities", "error")


@pytest.fixture
def model(tmp_path) -> Path:
    return build_onnx_model(tmp_path / "tiny.onnx", metadata=catdog_metadata())


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Good JPEGs, a corrupt .jpg, a text file posing as a PNG, a note and an empty folder."""
    root = write_class_folder(tmp_path / "mixed", per_class=4, size=(60, 40))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    (root / "letter.png").write_text("Dear Sir")
    (root / "notes.txt").write_text("not an image")
    return root


def invoke(*arguments):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def read_folder(folder: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(folder.glob("*.json")) for line in path.read_text().splitlines()]


def fields(record: dict) -> dict:
    return {name: record.get(name) for name in RECORD_FIELDS}


def test_import_catdog_runtime_ray_does_not_import_ray():
    code = "import sys, catdog.runtime, catdog.runtime.ray; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_batch_classifier_gives_the_cli_record_fields_and_error_rows(model, mixed):
    pytest.importorskip("onnxruntime")
    from catdog.runtime.ray import BatchClassifier

    classifier = BatchClassifier(model)
    paths = [mixed / "cats" / "cat.0.jpg", mixed / "broken.jpg", mixed / "dogs" / "dog.1.jpg"]
    batch = {"path": np.array([str(path) for path in paths], dtype=object),
             "bytes": np.array([path.read_bytes() for path in paths], dtype=object)}
    rows = classifier(batch)
    assert list(rows) == ["source", "label", "probabilities", "error", "latency_ms"]
    assert rows["source"] == [str(path) for path in paths]
    assert rows["label"][0] == "cat" and rows["label"][2] == "dog" and rows["label"][1] is None
    assert rows["error"][1].startswith("UnidentifiedImageError") and repr(str(paths[1])) in rows["error"][1]
    assert set(rows["probabilities"][0]) == {"cat", "dog"} and rows["probabilities"][1] is None


def test_a_missing_ray_extra_names_the_pip_command(monkeypatch, model, mixed, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    result = invoke("--ray", mixed, "--model", model, "--out", tmp_path / "results")
    assert result.exit_code == 2
    assert "pip install 'catdog[ray]'" in result.stderr and result.stderr.count("\n") == 1


def test_an_unreachable_address_fails_in_one_line_quickly(model, mixed, tmp_path):
    pytest.importorskip("ray")
    started = time.monotonic()
    result = invoke("--ray", "127.0.0.1:1", mixed, "--model", model, "--out", tmp_path / "results")
    assert time.monotonic() - started < 30
    assert result.exit_code == 2, result.output
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "results").exists()  # nothing left behind


def test_ray_needs_an_out_folder_and_refuses_a_full_one(model, mixed, tmp_path):
    assert "--ray needs --out FOLDER" in invoke("--ray", mixed, "--model", model).stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "old.json").write_text("{}\n")
    result = invoke("--ray", mixed, "--model", model, "--out", full)
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (full / "old.json").exists()


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_run_equals_the_single_process_run_record_for_record(ray_session, model, mixed, tmp_path):
    single = tmp_path / "single.jsonl"
    assert invoke(mixed, "--model", model, "--out", single).exit_code == 1  # the corrupt files are errors
    folder = tmp_path / "ray"
    result = invoke("--ray", mixed, "--model", model, "--out", folder, "--actors", "2", "--batch-size", "3")
    assert result.exit_code == 1, result.output
    assert "10 inputs" in result.stderr and "2 errors" in result.stderr and "1 file skipped" in result.stderr
    expected = {record["source"]: fields(record) for record in map(json.loads, single.read_text().splitlines())}
    got = read_folder(folder)
    assert len(got) == len(expected) == 10  # one record per image-named file, none twice
    assert {record["source"]: fields(record) for record in got} == expected


@pytest.mark.ray
def test_the_plain_pipeline_a_user_writes(ray_session, model, mixed, tmp_path):
    from catdog.runtime.ray import BatchClassifier

    dataset = ray_session.data.read_binary_files(str(mixed / "dogs"), include_paths=True)
    rows = dataset.map_batches(BatchClassifier, fn_constructor_kwargs={"model": str(model)},
                               compute=ray_session.data.ActorPoolStrategy(size=1), num_cpus=0.5,
                               batch_size=2).take_all()
    assert sorted(row["label"] for row in rows) == ["dog"] * 4
    assert all(row["error"] is None for row in rows)


@pytest.mark.ray
def test_a_missing_file_and_an_empty_folder_are_error_rows(ray_session, model, mixed, tmp_path):
    (tmp_path / "empty").mkdir()
    folder = tmp_path / "ray"
    result = invoke("--ray", mixed / "cats", tmp_path / "missing.jpg", tmp_path / "empty", "--model", model,
                    "--out", folder)
    assert result.exit_code == 1, result.output
    records = {record["source"]: record for record in read_folder(folder)}
    assert len(records) == 6
    assert records[str(tmp_path / "missing.jpg")]["error"]
    assert "nothing found" in records[str(tmp_path / "empty")]["error"]


@pytest.mark.ray
def test_read_binary_files_gives_the_same_records(ray_session, model, mixed, tmp_path):
    from catdog.runtime.ray import classify_on_ray

    single = tmp_path / "single.jsonl"
    invoke(mixed, "--model", model, "--out", single)
    folder = tmp_path / "ray"
    folder.mkdir()
    classify_on_ray([str(mixed)], out=folder, model=model, actors=1, batch_size=4, ship_model=True, read_bytes=True)
    expected = {record["source"]: fields(record) for record in map(json.loads, single.read_text().splitlines())}
    assert {record["source"]: fields(record) for record in read_folder(folder)} == expected
