"""Tests for `catdog-train --init` (starting from an earlier catdog model), per-class results and progress lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catdog.measure.per_class import confusion_matrix, format_per_class, per_class_results
from catdog.train.cli import main
from catdog.train.config import TrainConfig
from catdog.train.progress import DecodeProgress, epoch_line, format_duration
from catdog.train.report import few_photos_warnings
from conftest import write_class_folder, write_colour_classes


def test_help_shows_init_and_its_fine_tuning_defaults():
    result = CliRunner().invoke(main, ["--help"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "--init PATH" in text
    assert "[default: 80, or 30 with --init]" in text and "or 0.0005 with --init]" in text


def test_init_changes_the_epoch_and_learning_rate_defaults_only_when_not_given():
    assert (TrainConfig(data=Path(".")).epochs, TrainConfig(data=Path(".")).learning_rate) == (80, 2e-3)
    assert (TrainConfig(data=Path("."), init="m.keras").epochs, TrainConfig(data=Path("."), init="m.keras").learning_rate) == (30, 5e-4)
    assert TrainConfig(data=Path("."), init="m.keras", epochs=7, learning_rate=0.1).epochs == 7


def test_a_missing_init_file_exits_2_in_one_line_before_anything_is_written(photo_folder, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(out), "--init", str(tmp_path / "no.keras")])
    assert result.exit_code == 2 and "--init" in result.output and "no such file" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


def test_per_class_precision_and_recall_for_k_classes():
    truth, decided = [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 1]
    rows = per_class_results(truth, decided, labels=("a", "b", "c"))
    assert [(row["photos"], row["precision"], row["recall"]) for row in rows] == [
        (3, 1.0, 0.6667), (2, 0.5, 1.0), (1, None, 0.0)]
    assert confusion_matrix(truth, decided, num_classes=3).tolist() == [[2, 1, 0], [0, 2, 0], [0, 1, 0]]
    lines = format_per_class(rows)
    assert lines[0].split() == ["class", "photos", "precision", "recall"] and lines[3].split() == ["c", "1", "-", "0.0%"]


def test_few_photos_get_one_warning_line_naming_the_class_and_count():
    lines = few_photos_warnings({"big cat": 50, "tiny": 3}, {"big cat": 20, "tiny": 1})
    assert len(lines) == 1 and "tiny" in lines[0] and "1 validation photo " in lines[0] and "3 training photos" in lines[0]
    assert few_photos_warnings({"a": 5, "b": 5}, {"a": 10, "b": 10}) == []


def test_epoch_line_speaks_catdogs_words():
    line = epoch_line(epoch=3, epochs=30, logs={"loss": 0.4123, "accuracy": 0.8125, "val_loss": 0.5, "val_accuracy": 0.795},
                      seconds=4.06, remaining_seconds=110)
    assert line == "epoch 3/30: loss 0.412, accuracy 81.2%, val loss 0.500, val accuracy 79.5% (4.1 s, ETA 1 min 50 s)"
    assert "ETA" not in epoch_line(epoch=2, epochs=2, logs={}, seconds=1, remaining_seconds=0)
    assert format_duration(3725) == "1 h 02 min"



def test_decoding_progress_is_catdogs_own_lines_not_a_keras_bar():
    import io
    import re

    stream = io.StringIO()
    progress = DecodeProgress("training images", count=4, every=0.0, stream=stream)
    for done in range(1, 5):
        progress.update(done)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("training images: 1 of 4 decoded (25%, ETA ") and len(lines) == 4
    assert re.fullmatch(r"training images: decoded 4 files in [0-9.]+ s", lines[-1])


def test_selection_keeps_higher_val_accuracy_and_breaks_ties_by_loss():
    from catdog.train.checkpoint import is_better

    state = {"best_val_accuracy": 0.5, "best_val_loss": 0.6}
    assert is_better(accuracy=0.55, loss=0.9, state=state)  # a lower loss alone never wins...
    assert not is_better(accuracy=0.45, loss=0.1, state=state)
    assert is_better(accuracy=0.5, loss=0.5, state=state) and not is_better(accuracy=0.5, loss=0.7, state=state)
    assert is_better(accuracy=None, loss=0.5, state={"best_val_loss": 0.6})  # no accuracy metric: the loss


def _train(data: Path, out: Path, *extra: str):
    args = ["--data", str(data), "--out", str(out), "--epochs", "1", "--batch-size", "8", "--val-split", "0.25",
            "--seed", "7", "--image-size", "40", *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.tf
def test_init_copies_the_backbone_across_sizes_keeps_the_head_for_the_same_labels_and_refuses_other_files(tmp_path):
    import keras

    pets = write_class_folder(tmp_path / "pets", per_class=6)
    first = _train(pets, tmp_path / "first", "--image-size", "48")
    assert first.exit_code == 0, first.output
    source = keras.models.load_model(tmp_path / "first" / "model.keras")
    # A learning rate of 0 leaves every trained weight as --init set it.
    fruit = write_colour_classes(tmp_path / "fruit", classes=("apple", "banana", "cherry"), per_class=6)
    new_head = _train(fruit, tmp_path / "fruit_run", "--init", str(tmp_path / "first" / "model.keras"),
                      "--learning-rate", "0")
    assert new_head.exit_code == 0, new_head.output
    assert "too few to choose an epoch by" in new_head.output and "keeping the last epoch" in new_head.output
    model = keras.models.load_model(tmp_path / "fruit_run" / "model.keras")
    assert model.input_shape == (None, 40, 40, 3) and model.output_shape == (None, 3)
    for name in ("stem_conv", "stage2_block3_conv2"):
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], source.get_layer(name).get_weights()[0])
    card = json.loads((tmp_path / "fruit_run" / "card.json").read_text())
    assert card["init"]["head"] == "new" and card["init"]["labels"] == ["cats", "dogs"]
    assert len(card["init"]["sha256"]) == 64 and not Path(card["init"]["model"]).is_absolute()
    assert card["config"]["epochs"] == 1 and "Started from" in (tmp_path / "fruit_run" / "card.md").read_text()

    same = _train(pets, tmp_path / "again", "--init", str(tmp_path / "first" / "model.keras"), "--learning-rate", "0")
    assert same.exit_code == 0, same.output
    kept = keras.models.load_model(tmp_path / "again" / "model.keras")
    np.testing.assert_array_equal(kept.get_layer("probability").get_weights()[0],
                                  source.get_layer("probability").get_weights()[0])
    assert json.loads((tmp_path / "again" / "card.json").read_text())["init"]["head"] == "kept"

    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a model")
    other = tmp_path / "other.keras"
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]).save(other)
    for bad, message in ((junk, "is not a Keras model"), (other, "is not a catdog MiniResNet")):
        result = _train(pets, tmp_path / f"bad_{bad.stem}", "--init", str(bad))
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.output.strip().splitlines()[-1].startswith("Error: --init") and not (tmp_path / f"bad_{bad.stem}").exists()
