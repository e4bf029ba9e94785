"""Your data, your labels (issue 9): train on class folders, export int8 TFLite and ONNX, run, in one go each.

Three colour-coded classes `apple`, `banana`, `cherry` at 48x48, and a binary `hotdog` /
`not_hotdog` set: `catdog-train` for 2 epochs, `catdog-export --int8` with the card's own data
(calibration from its training split, checks on its validation split), then `catdog-run` with
text, JSON and CSV output. The labels appear at every step and "cat" and "dog" nowhere. Tiny
generated data only; the checks are about the contract, so --max-drop is opened wide (two
epochs on a few dozen validation images say little about int8 accuracy).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from catdog.export.cli import main as export_main
from catdog.runtime.cli import main as run_main
from catdog.runtime.metadata import read_metadata, read_standard_labels
from catdog.train.cli import main as train_main

pytestmark = pytest.mark.tf

COLOURS = {"apple": (200, 30, 30), "banana": (220, 210, 40), "cherry": (120, 0, 60), "hotdog": (190, 90, 40),
           "not_hotdog": (40, 120, 200)}
SHIPPED_WORDS = re.compile(r"\b(cats?|dogs?)\b")


def write_classes(root: Path, names: tuple[str, ...], *, per_class: int, size: int = 48) -> Path:
    rng = np.random.default_rng(len(names))
    for name in names:
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            pixels = np.clip(np.array(COLOURS[name]) + rng.normal(0, 25, (size + 8, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}_{index:03d}.png")
    return root


def run_end_to_end(tmp_path: Path, names: tuple[str, ...], *, per_class: int) -> dict[str, str]:
    """Train, export and run; return each command's output, after checking each exit code."""
    data = write_classes(tmp_path / "data", names, per_class=per_class)
    outputs = {}
    trained = CliRunner().invoke(train_main, ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "2",
                                              "--image-size", "48", "--batch-size", "32", "--no-augment"])
    assert trained.exit_code == 0, trained.output
    outputs["train"] = trained.output
    exported = CliRunner().invoke(export_main, [str(tmp_path / "run" / "model.keras"), "--int8", "--max-drop", "100",
                                                "--out", str(tmp_path / "exported")])
    assert exported.exit_code == 0, exported.output
    outputs["export"] = exported.output
    for name in ("run_int8.tflite", "run_int8.onnx"):
        metadata = read_metadata(tmp_path / "exported" / name)
        assert metadata["labels"] == list(names) and metadata["model_spec"]["image_size"] == [48, 48]
        outputs[f"metadata {name}"] = json.dumps(metadata)
    assert read_standard_labels((tmp_path / "exported" / "run_int8.tflite").read_bytes()) == list(names)
    for model in ("run_int8.tflite", "run_int8.onnx"):
        for output_format in ("text", "json", "csv"):
            ran = CliRunner().invoke(run_main, ["--model", str(tmp_path / "exported" / model), "--format", output_format,
                                                str(data / names[-1])])
            assert ran.exit_code == 0, ran.output
            outputs[f"run {model} {output_format}"] = ran.output
    return outputs


def check_labels_everywhere(outputs: dict[str, str], names: tuple[str, ...]) -> None:
    assert f"labels: {', '.join(names)} (from the training card)" in outputs["export"]
    for model in ("run_int8.tflite", "run_int8.onnx"):
        records = [json.loads(line) for line in outputs[f"run {model} json"].splitlines() if line.startswith("{")]
        assert records and all(set(record["probabilities"]) == set(names) for record in records)
        rows = list(csv.DictReader(io.StringIO(outputs[f"run {model} csv"])))
        assert rows and all(f"p_{name}" in rows[0] for name in names)
        assert any(name in outputs[f"run {model} text"] for name in names)
    for step, text in outputs.items():
        assert not SHIPPED_WORDS.search(text.replace("catdog", "")), f"{step} mentions cat or dog: {text[:300]}"


def test_three_fruit_classes_carry_their_labels_from_folders_to_runtime(tmp_path):
    names = ("apple", "banana", "cherry")
    check_labels_everywhere(run_end_to_end(tmp_path, names, per_class=75), names)


def test_binary_hotdog_set_carries_its_labels_from_folders_to_runtime(tmp_path):
    names = ("hotdog", "not_hotdog")
    outputs = run_end_to_end(tmp_path, names, per_class=112)
    check_labels_everywhere(outputs, names)
    assert json.loads(outputs["metadata run_int8.tflite"])["source_output"] == "sigmoid"


def test_a_small_set_started_from_the_shipped_weights_exports_and_runs_with_its_labels(tmp_path):
    """Issue 28's path end to end: `catdog-train --init runtime/models/catdog.keras` on a user's own few
    photos, `catdog-export --int8`, `catdog-run`; the files name the init model and carry the user's labels."""
    from catdog.provenance import content_sha256
    from catdog.runtime.models import shipped_model_path

    names = ("apple", "banana", "cherry")
    data = write_classes(tmp_path / "data", names, per_class=20, size=64)
    shipped = shipped_model_path("catdog.keras")
    trained = CliRunner().invoke(train_main, ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "2",
                                              "--batch-size", "32", "--no-augment", "--init", str(shipped)])
    assert trained.exit_code == 0, trained.output
    exported = CliRunner().invoke(export_main, [str(tmp_path / "run" / "model.keras"), "--int8", "--max-drop", "100",
                                                "--out", str(tmp_path / "exported")])
    assert exported.exit_code == 0, exported.output
    for model in ("run_int8.tflite", "run_int8.onnx"):
        metadata = read_metadata(tmp_path / "exported" / model)
        assert metadata["labels"] == list(names)
        init = metadata["source_init"]
        assert init["sha256"] == content_sha256(shipped) and init["labels"] == ["cats", "dogs"] and init["head"] == "new"
        ran = CliRunner().invoke(run_main, ["--model", str(tmp_path / "exported" / model), "--format", "json",
                                            str(data / "cherry")])
        assert ran.exit_code == 0, ran.output
        records = [json.loads(line) for line in ran.output.splitlines() if line.startswith("{")]
        assert len(records) == 20 and all(set(record["probabilities"]) == set(names) for record in records)
