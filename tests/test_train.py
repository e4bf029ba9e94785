"""Tests for catdog.train: the model, the data split and decode, the CLI and reproducibility."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catdog.train.cli import main
from catdog.train.data import list_labelled_files, split_files
from conftest import CATDOG_SPEC, write_class_folder


def test_help_lists_every_option():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in ("--data", "--out", "--epochs", "--batch-size", "--seed", "--val-split", "--val", "--resume",
                   "--strategy", "--cache"):
        assert option in result.output


def test_files_are_labelled_by_sorted_class_folder(photo_folder):
    files = list_labelled_files(photo_folder)
    assert files.class_names == ("cats", "dogs")
    assert {label for path, label in zip(files.paths, files.labels) if path.parent.name == "dogs"} == {1}


def test_seed_layout_with_training_set_folder_is_accepted(tmp_path):
    write_class_folder(tmp_path / "training_set", per_class=2)
    assert len(list_labelled_files(tmp_path).paths) == 4


def test_split_is_stratified_and_stable_by_file_name(tmp_path):
    files = list_labelled_files(write_class_folder(tmp_path / "a", per_class=20))
    train, val = split_files(files, val_fraction=0.1)
    assert sorted(val.labels) == [0, 0, 1, 1]
    assert not set(train.paths) & set(val.paths)
    # Adding files to the folder must not move existing ones across the split.
    write_class_folder(tmp_path / "a", per_class=30)
    _, bigger_val = split_files(list_labelled_files(tmp_path / "a"), val_fraction=0.1)
    moved = [path for path in val.paths if path not in bigger_val.paths]
    assert len(moved) <= 2  # only files pushed out by the larger quota, never new ones mixed in at random


@pytest.mark.tf
@pytest.mark.parametrize("layout, message", [
    ("missing", "data folder not found"),
    ("empty", "no class subfolders"),
    ("one_class", "exactly two class folders"),
])
def test_bad_data_folders_exit_2_with_one_line(tmp_path, layout, message):
    data = tmp_path / "data"
    if layout != "missing":
        data.mkdir()
    if layout == "one_class":
        write_class_folder(data, per_class=2)
        for path in (data / "dogs").iterdir():
            path.unlink()
    result = CliRunner().invoke(main, ["--data", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_tensorflow_is_one_line_naming_the_extra(photo_folder, tmp_path, monkeypatch):
    # None in sys.modules makes `import tensorflow` fail, as on a runtime-only install.
    monkeypatch.setitem(__import__("sys").modules, "tensorflow", None)
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().endswith("pip install 'catdog[train]'")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.tf
@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_exits_2(photo_folder, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(locked / "out")])
    assert result.exit_code == 2 and "cannot write" in result.output


@pytest.mark.tf
def test_output_path_that_is_a_file_exits_2(photo_folder, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(blocker / "out")])
    assert result.exit_code == 2 and "cannot write to output folder" in result.output


@pytest.mark.tf
def test_model_matches_the_seed_parameter_count():
    from catdog.train.model import NON_TRAINABLE_COUNT, PARAMETER_COUNT, build_model

    model = build_model(image_size=(64, 64))
    non_trainable = sum(int(np.prod(weight.shape)) for weight in model.non_trainable_weights)
    assert (model.count_params(), non_trainable) == (PARAMETER_COUNT, NON_TRAINABLE_COUNT) == (265_665, 1_216)
    assert model.input_shape == (None, 64, 64, 3) and model.output_shape == (None, 1)
    # The last block really adds its shortcut: its output is a ReLU of an Add.
    assert type(model.get_layer("stage2_block3_out").input._keras_history.operation).__name__ == "Add"


@pytest.mark.tf
def test_corrupt_files_are_skipped_with_a_warning(photo_folder, capfd):
    from catdog.train.data import decode_images

    (photo_folder / "cats" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photo_folder / "dogs" / "empty.png").write_bytes(b"")
    images, labels = decode_images(list_labelled_files(photo_folder), spec=CATDOG_SPEC)
    assert images.shape == (16, 64, 64, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0.0] * 8 + [1.0] * 8
    err = capfd.readouterr().err
    assert "skipped" in err and "broken.jpg" in err and "empty.png" in err and "2 of 18" in err


def _train(data: Path, out: Path, *extra: str):
    args = ["--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "8", "--val-split", "0.25",
            "--seed", "7", *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.tf
def test_same_seed_gives_identical_weights_and_a_complete_run(tmp_path):
    import keras

    data = write_class_folder(tmp_path / "data", per_class=8)
    first, second = _train(data, tmp_path / "one"), _train(data, tmp_path / "two")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    for name in ("model.keras", "history.csv", "curves.png", "card.md", "card.json", "checkpoint/last.keras"):
        assert (tmp_path / "one" / name).exists(), name
    weights = [keras.models.load_model(tmp_path / run / "model.keras").get_weights() for run in ("one", "two")]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    card = json.loads((tmp_path / "one" / "card.json").read_text())
    assert card["command"].startswith("catdog-train --data") and card["epochs_run"] == 2
    assert card["data"]["val_images"] == 4 and 0.0 <= card["val_accuracy"] <= 1.0

    # A different seed must give different weights, or the check above proves nothing.
    third = _train(data, tmp_path / "three", "--seed", "8")
    assert third.exit_code == 0
    other = keras.models.load_model(tmp_path / "three" / "model.keras").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(weights[0], other))

    # --resume continues from the checkpoint instead of starting over.
    resumed = _train(data, tmp_path / "one", "--resume", "--epochs", "3")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((tmp_path / "one" / "card.json").read_text())["epochs_run"] == 3
    assert len((tmp_path / "one" / "history.csv").read_text().strip().splitlines()) == 1 + 3


@pytest.mark.tf
def test_resume_without_checkpoint_exits_2(photo_folder, tmp_path):
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "o"), "--resume"])
    assert result.exit_code == 2 and "no checkpoint" in result.output


@pytest.mark.tf
def test_ctrl_c_leaves_a_resumable_checkpoint_and_no_model(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    data = write_class_folder(tmp_path / "data", per_class=8)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "catdog.train.cli", "--data", str(data), "--out", str(out),
               "--epochs", "500", "--batch-size", "8", "--val-split", "0.25"]
    # A shell's background job may inherit SIGINT as ignored; the child gets the default back.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint" / "state.json").exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "--resume" in err
    assert not (out / "model.keras").exists()
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epoch"] >= 1 and (out / "checkpoint" / "last.keras").exists()
