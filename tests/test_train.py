"""Tests for catdog.train: the model, the data split and decode, the CLI and reproducibility."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from catdog.provenance import describe_path
from catdog.train.cli import ImageSize, main
from catdog.train.data import list_labelled_files, split_files
from catdog.train.report import found_message, next_command, saved_message, task_text
from catdog.train.schedule import warmup_epochs_for
from conftest import CATDOG_SPEC, write_class_folder, write_colour_classes


def test_help_lists_every_option():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in ("--data", "--out", "--epochs", "--batch-size", "--seed", "--val-split", "--val", "--resume",
                   "--strategy", "--cache", "--image-size N|HxW", "--force", "--verbose", "--cache-scale",
                   "--crop-area", "--antialias / --no-antialias", "--mixup", "--ema / --no-ema", "--ema-momentum"):
        assert option in result.output
    assert "a third of --epochs" in " ".join(result.output.split())


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


@pytest.mark.parametrize("layout, message", [
    ("missing", "data folder not found"),
    ("empty", "no class subfolders"),
    ("one_class", "need at least two class folders"),
    ("empty_class", "class folder without images"),
])
def test_bad_data_folders_exit_2_with_one_line_and_leave_no_out_folder(tmp_path, layout, message):
    data = tmp_path / "data"
    if layout != "missing":
        data.mkdir()
    if layout == "one_class":
        write_colour_classes(data, classes=("apple",), per_class=2)
    if layout == "empty_class":
        write_colour_classes(data, classes=("apple", "banana", "cherry"), per_class=2)
        for path in (data / "banana").iterdir():
            path.unlink()
    result = CliRunner().invoke(main, ["--data", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists(), "a failed data check must not leave an --out folder"


def test_k_class_folders_are_labelled_in_sorted_order(tmp_path):
    files = list_labelled_files(write_colour_classes(tmp_path, classes=("cherry", "apple", "banana"), per_class=2))
    assert files.class_names == ("apple", "banana", "cherry")
    assert [(path.parent.name, label) for path, label in zip(files.paths, files.labels)][::2] == \
        [("apple", 0), ("banana", 1), ("cherry", 2)]


@pytest.mark.parametrize("existing", ["model.keras", "checkpoint/state.json"])
def test_an_earlier_run_is_not_replaced_without_resume_or_force(photo_folder, tmp_path, existing):
    out = tmp_path / "run"
    (out / existing).parent.mkdir(parents=True, exist_ok=True)
    (out / existing).write_text("an earlier run")
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "already holds a training run" in result.output and "--force" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (out / existing).read_text() == "an earlier run"
    both = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(out), "--resume", "--force"])
    assert both.exit_code == 2 and "give only one" in both.output


def test_resume_with_other_classes_or_size_exits_2(photo_folder, tmp_path):
    from catdog.runtime.spec import ModelSpec

    out = tmp_path / "run"
    (out / "checkpoint").mkdir(parents=True)
    old = ModelSpec(image_size=(48, 48), labels=("apple", "banana", "cherry"), output="softmax")
    (out / "checkpoint" / "state.json").write_text(json.dumps({"epoch": 1, "model_spec": old.to_dict()}))
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(out), "--resume"])
    assert result.exit_code == 2 and "trained on apple, banana, cherry at 48x48" in result.output


def test_val_folder_with_other_classes_exits_2(tmp_path):
    data = write_colour_classes(tmp_path / "train", classes=("apple", "banana"), per_class=2)
    val = write_colour_classes(tmp_path / "val", classes=("apple", "cherry"), per_class=2)
    result = CliRunner().invoke(main, ["--data", str(data), "--val", str(val), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "same class folders" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text, size", [("64", (64, 64)), ("48x64", (48, 64)), (" 32X40 ", (32, 40)), ("9", (9, 9))])
def test_image_size_accepts_n_or_height_by_width(text, size):
    assert ImageSize().convert(text, None, None) == size


@pytest.mark.parametrize("text", ["0", "8", "64x", "x64", "abc", "64x64x3", "-5", "12.5", "64x8"])
def test_bad_image_size_exits_2(photo_folder, tmp_path, text):
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "o"), "--image-size", text])
    assert result.exit_code == 2 and "--image-size" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("epochs, requested, used", [(3, 3, 1), (80, 3, 3), (2, 3, 0), (1, 3, 0), (10, 0, 0), (9, 5, 3)])
def test_warmup_is_capped_at_a_third_of_the_run(epochs, requested, used):
    assert warmup_epochs_for(epochs=epochs, warmup_epochs=requested) == used


def test_messages_speak_of_the_runs_own_classes():
    counts = {"apple": 7, "banana": 7, "cherry": 7}
    assert found_message({"cats": 3600, "dogs": 3600}, {"cats": 400, "dogs": 400}) == \
        "found 8,000 images in 2 classes (cats 4,000, dogs 4,000); training on 7,200, validating on 800"
    assert found_message(counts, {"apple": 1, "banana": 1, "cherry": 1}).startswith(
        "found 24 images in 3 classes (apple 8, banana 8, cherry 8); training on 21, validating on 3")
    assert task_text(("hotdog", "not_hotdog")) == "hotdog vs not_hotdog"
    assert task_text(("apple", "banana", "cherry")) == "3 classes: apple, banana, cherry"
    many = task_text(tuple(f"c{index}" for index in range(10)))
    assert many.endswith("c5 and 4 more")
    assert saved_message(Path("runs/x/model.keras"), val_accuracy=0.8975, best_epoch=65, epochs_run=80) == \
        "saved runs/x/model.keras: val accuracy 89.75% (best epoch 65 of 80)"
    assert next_command(Path("my runs/model.keras")) == "next: catdog-export 'my runs/model.keras' --int8"


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
    from catdog.train.model import MIN_IMAGE_SIZE, NON_TRAINABLE_COUNT, PARAMETER_COUNT, build_model

    model = build_model(image_size=(64, 64))
    non_trainable = sum(int(np.prod(weight.shape)) for weight in model.non_trainable_weights)
    assert (model.count_params(), non_trainable) == (PARAMETER_COUNT, NON_TRAINABLE_COUNT) == (265_665, 1_216)
    assert model.input_shape == (None, 64, 64, 3) and model.output_shape == (None, 1)
    # The last block really adds its shortcut: its output is a ReLU of an Add.
    assert type(model.get_layer("stage2_block3_out").input._keras_history.operation).__name__ == "Add"
    # Fully convolutional: other sizes keep every weight; K > 2 classes widen only the head.
    assert build_model(image_size=(48, 40)).count_params() == PARAMETER_COUNT
    three = build_model(image_size=(48, 48), num_classes=3)
    assert three.output_shape == (None, 3) and three.count_params() == PARAMETER_COUNT + 64 * 2 + 2
    assert build_model(image_size=(MIN_IMAGE_SIZE, MIN_IMAGE_SIZE)).output_shape == (None, 1)
    with pytest.raises(ValueError, match="at least 9x9"):
        build_model(image_size=(MIN_IMAGE_SIZE - 1, 64))


@pytest.mark.tf
def test_short_runs_reach_the_peak_learning_rate():
    from catdog.train.schedule import learning_rate_schedule

    schedule = learning_rate_schedule(peak=2e-3, epochs=3, warmup_epochs=3, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in range(30)]
    assert max(rates) == pytest.approx(2e-3) and rates.index(max(rates)) == 10  # peak after one warm-up epoch
    assert rates[0] == pytest.approx(2e-5) and rates[-1] < 1e-4
    no_warmup = learning_rate_schedule(peak=2e-3, epochs=2, warmup_epochs=3, steps_per_epoch=10)
    assert float(no_warmup(0)) == pytest.approx(2e-3)


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
    resumed = _train(data, tmp_path / "one", "--resume", "--epochs", "4")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((tmp_path / "one" / "card.json").read_text())["epochs_run"] == 4
    history = (tmp_path / "one" / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 4
    # The schedule stretches to the new --epochs: epoch 3 still learns (the old one had decayed to 0).
    rates = [float(row.split(",")[5]) for row in history[1:]]
    assert rates[2] > 1e-4, rates


LEVERS = ("--cache-scale", "1.5", "--crop-area", "0.4", "--antialias", "--mixup", "0.4", "--ema", "--ema-momentum", "0.9")


@pytest.mark.tf
def test_quality_levers_stay_reproducible_and_are_recorded(tmp_path):
    import keras

    data = write_class_folder(tmp_path / "data", per_class=8)
    first, second = _train(data, tmp_path / "one", *LEVERS), _train(data, tmp_path / "two", *LEVERS)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "decoding 12 files at 96x96" in first.output and "decoding 4 files at 64x64" in first.output
    models = [keras.models.load_model(tmp_path / run / "model.keras") for run in ("one", "two")]
    assert models[0].input_shape == (None, 64, 64, 3)
    assert all(np.array_equal(a, b) for a, b in zip(models[0].get_weights(), models[1].get_weights()))
    card = json.loads((tmp_path / "one" / "card.json").read_text())
    assert card["config"]["crop_area"] == 0.4 and card["config"]["ema"] and card["config"]["cache_scale"] == 1.5
    card_text = (tmp_path / "one" / "card.md").read_text()
    assert "Random-resized crops of 40%" in card_text and "EMA momentum 0.9" in card_text and "96x96" in card_text
    assert "mixup within each batch (Beta(0.4, 0.4)" in card_text and card["config"]["mixup"] == 0.4
    assert "shrunk to the input size by an antialiasing filter" in card_text and card["config"]["antialias"]
    # The kept weights are the average, which is what validation saw: the saved model scores the
    # best epoch's logged val accuracy, and differs from the raw weights left in the checkpoint.
    history = [line.split(",") for line in (tmp_path / "one" / "history.csv").read_text().splitlines()[1:]]
    logged = float(history[card["best_epoch"] - 1][4])
    assert card["val_accuracy"] == pytest.approx(logged, abs=1e-4)
    raw = keras.models.load_model(tmp_path / "one" / "checkpoint" / "last.keras").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(models[0].get_weights(), raw))


@pytest.mark.tf
def test_distillation_from_an_ensemble_is_reproducible_names_its_teachers_and_refuses_other_classes(tmp_path):
    import keras

    data = write_class_folder(tmp_path / "data", per_class=8)
    for size in (24, 20):
        assert _train(data, tmp_path / f"teacher{size}", "--image-size", str(size), "--epochs", "1").exit_code == 0
    teacher, second = tmp_path / "teacher24" / "model.keras", tmp_path / "teacher20" / "model.keras"
    runs = [_train(data, tmp_path / name, "--image-size", "16", "--cache-scale", "1.5", "--teacher", str(teacher),
                   "--teacher", str(second), "--distill-weight", "0.7") for name in ("one", "two")]
    assert all(run.exit_code == 0 for run in runs), runs[0].output
    assert "distilling from" in runs[0].output and "(24x24)" in runs[0].output and "(20x20), weight 0.7" in runs[0].output
    weights = [keras.models.load_model(tmp_path / name / "model.keras").get_weights() for name in ("one", "two")]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    card = json.loads((tmp_path / "one" / "card.json").read_text())
    assert [record["model"] for record in card["teachers"]] == [describe_path(teacher), describe_path(second)]
    assert [record["image_size"] for record in card["teachers"]] == [[24, 24], [20, 20]]
    assert card["config"]["distill_weight"] == 0.7 and card["command"].count("--teacher") == 2
    assert "**Teachers (their mean probability):**" in (tmp_path / "one" / "card.md").read_text()
    # Training accuracy rounds the soft targets instead of reading 0 everywhere.
    history = (tmp_path / "one" / "history.csv").read_text().splitlines()
    assert any(float(line.split(",")[2]) > 0 for line in history[1:]), history

    colours = write_colour_classes(tmp_path / "colours", classes=("blue", "green", "red"), per_class=4)
    other = _train(colours, tmp_path / "three", "--image-size", "16", "--teacher", str(teacher))
    assert other.exit_code == 2 and "same class folders" in other.output


def test_soft_targets_mix_the_labels_with_the_teachers_mean_probability():
    from catdog.train.distill import Distillation

    teachers = (lambda images, training: np.full((2, 1), 0.9), lambda images, training: np.full((2, 1), 0.5))
    distillation = Distillation(models=teachers, image_sizes=((8, 8), (4, 4)), weight=0.5)
    targets = np.array([[1.0], [0.0]])
    mixed = distillation.soft_targets((np.zeros((2, 8, 8, 3)), np.zeros((2, 4, 4, 3))), targets)
    assert np.allclose(mixed, [[0.5 * 1.0 + 0.5 * 0.7], [0.5 * 0.7]])


@pytest.mark.tf
def test_distillation_pipelines_turn_the_tf_data_autotuner_off_and_others_keep_it():
    from catdog.train.augment import Augmentation, make_dataset
    from catdog.train.distill import Distillation

    images, labels = np.zeros((4, 8, 8, 3), np.uint8), np.array([0.0, 1.0, 0.0, 1.0], np.float32)
    teacher = Distillation(models=(lambda batch, training: batch[:, :1, 0, 0] * 0.0 + 0.5,), image_sizes=((8, 8),),
                           weight=0.5)
    distilled = make_dataset(images, labels, batch_size=2, seed=0, augmentation=Augmentation(), distillation=teacher)
    plain = make_dataset(images, labels, batch_size=2, seed=0, augmentation=Augmentation())
    assert distilled.options().autotune.enabled is False
    assert plain.options().autotune.enabled is not False
    targets = np.concatenate([batch_targets.numpy() for _, batch_targets in distilled])
    assert sorted(targets[:, 0].tolist()) == [0.25, 0.25, 0.75, 0.75]  # (1 - 0.5) * label + 0.5 * 0.5


@pytest.mark.tf
def test_mixup_blends_a_batch_with_its_reverse_by_one_beta_weight():
    import tensorflow as tf

    from catdog.train.augment import mix_batch

    images = np.stack([np.full((4, 4, 3), value, np.float32) for value in (0.0, 100.0, 255.0)])
    teacher = images[:, :2, :2]
    targets = np.array([[0.0], [1.0], [1.0]], np.float32)
    seed = tf.constant([3, 4], tf.int64)
    (mixed, mixed_teacher), mixed_targets = mix_batch((tf.constant(images), tf.constant(teacher)),
                                                      tf.constant(targets), seed, alpha=0.4)
    lam = float(mixed_targets.numpy()[2, 0])  # row 2 (target 1) mixed with row 0 (target 0): lam * 1 + (1 - lam) * 0
    assert 0.0 < lam < 1.0
    expected = lam * images + (1.0 - lam) * images[::-1]
    assert np.allclose(mixed.numpy(), expected) and np.allclose(mixed_teacher.numpy(), expected[:, :2, :2])
    assert np.allclose(mixed_targets.numpy(), lam * targets + (1.0 - lam) * targets[::-1])
    again = mix_batch(tf.constant(images), tf.constant(targets), seed, alpha=0.4)[1].numpy()
    assert np.array_equal(again, mixed_targets.numpy())  # stateless: same seed, same weight


@pytest.mark.parametrize("lever, message", [(("--cache-scale", "1.5"), "--cache-scale needs augmentation"),
                                            (("--mixup", "0.2"), "--mixup is part of augmentation"),
                                            (("--antialias",), "--antialias shrinks crops from a larger cache")])
def test_augmentation_levers_without_augmentation_exit_2(photo_folder, tmp_path, lever, message):
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "o"), *lever, "--no-augment"])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.tf
def test_random_resized_crops_sample_the_cached_photo_down_to_the_model_size():
    import tensorflow as tf

    from catdog.train.augment import Augmentation, augment_batch

    # A 96x96 photo, dark on the left and bright on the right. Crops without flip, rotation,
    # shear or colour keep dark on the left; flips alone mirror it.
    photo = np.zeros((4, 96, 96, 3), np.float32)
    photo[:, :, 48:] = 255.0
    still = Augmentation(flip=False, rotation=0.0, shear=0.0, brightness=0.0, contrast=0.0, crop_area=0.9)
    seed = tf.constant([1, 2], tf.int64)
    out = augment_batch(tf.constant(photo), seed, augmentation=still, output_size=(64, 48)).numpy()
    assert out.shape == (4, 64, 48, 3)
    assert (out[:, :, :8] < 1).all() and (out[:, :, -8:] > 254).all()
    flipped = augment_batch(tf.constant(photo), seed, output_size=(64, 48),
                            augmentation=Augmentation(rotation=0.0, shear=0.0, brightness=0.0, contrast=0.0,
                                                      crop_area=0.9)).numpy()
    mirrored = flipped[:, :, 0, 0] > 128  # bright on the left
    assert mirrored.any() and not mirrored.all()
    again = augment_batch(tf.constant(photo), seed, output_size=(64, 48),
                          augmentation=Augmentation(crop_area=0.4)).numpy()
    assert np.array_equal(again, augment_batch(tf.constant(photo), seed, output_size=(64, 48),
                                               augmentation=Augmentation(crop_area=0.4)).numpy())


@pytest.mark.tf
def test_antialiased_crops_are_shrunk_by_a_filter_not_sampled():
    import tensorflow as tf

    from catdog.train.augment import Augmentation, augment_batch

    noise = tf.constant(np.random.default_rng(0).uniform(0, 255, (2, 128, 128, 3)).astype(np.float32))
    still = {"flip": False, "rotation": 0.0, "shear": 0.0, "brightness": 0.0, "contrast": 0.0, "zoom": 0.0, "shift": 0.0}
    seed = tf.constant([1, 2], tf.int64)
    # The whole photo at half size: exactly tf.image.resize's antialiased (Pillow-like) shrink.
    half = augment_batch(noise, seed, augmentation=Augmentation(**still, antialias=True), output_size=(64, 64))
    expected = tf.image.resize(noise, (64, 64), method="bilinear", antialias=True)
    assert np.allclose(half.numpy(), np.clip(expected.numpy(), 0, 255), atol=1e-3)

    def roughness(batch):  # mean difference of neighbouring pixels: what aliasing adds
        return float(np.abs(np.diff(batch.numpy(), axis=2)).mean())

    sampled = augment_batch(noise, seed, augmentation=Augmentation(**still), output_size=(48, 48))
    filtered = augment_batch(noise, seed, augmentation=Augmentation(**still, antialias=True), output_size=(48, 48))
    assert filtered.shape == sampled.shape == (2, 48, 48, 3)
    assert roughness(filtered) < 0.7 * roughness(sampled)


def test_resume_without_checkpoint_exits_2(photo_folder, tmp_path):
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "o"), "--resume"])
    assert result.exit_code == 2 and "no checkpoint" in result.output
    assert not (tmp_path / "o").exists()


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
    # Quiet by default: TensorFlow's post-start-up logs and Python warnings stay hidden.
    assert "UserWarning" not in err and "cuInit" not in err and "NodeDef" not in err, err
    assert not (out / "model.keras").exists()
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epoch"] >= 1 and (out / "checkpoint" / "last.keras").exists()


CAT_OR_DOG = re.compile(r"\b(cats?|dogs?)\b", re.IGNORECASE)  # the word, not the project name "catdog"


def _own_labels_everywhere(out: Path, result, labels: tuple[str, ...], *, image_size: int):
    """The card, curves and messages of a finished run name its labels, its size and no cats or dogs."""
    from PIL import Image

    card = json.loads((out / "card.json").read_text())
    spec = card["model_spec"]
    assert spec["labels"] == list(labels) and spec["image_size"] == [image_size, image_size]
    assert spec["output"] == ("sigmoid" if len(labels) == 2 else "softmax")
    assert spec["pixel_range"] == [0.0, 255.0]
    assert card["data"]["folder"] and card["data"]["val_fraction"] == 0.25
    card_md = (out / "card.md").read_text()
    title = Image.open(out / "curves.png").text["Title"]
    for label in labels:
        assert label in card_md and label in title and label in result.output
    for text in (json.dumps(card), card_md, title, result.output):
        assert not CAT_OR_DOG.search(text), CAT_OR_DOG.search(text)
    assert out.name in title
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"found {8 * len(labels)} images in {len(labels)} classes (")
    assert lines[-2].startswith(f"saved {out / 'model.keras'}: val accuracy ")
    assert lines[-1] == f"next: catdog-export {out / 'model.keras'} --int8"
    # Only catdog's own lines and Keras's progress (epoch lines and bars) on stderr: no library warnings or logs.
    own = ("found ", "training images: ", "validation images: ", "training up to ", "saved ", "next: ",
           "epoch ", "validation split, per class:", "  ", "warning: class ", "the validation split has ")
    # Per-class precision and recall, in the card and the last lines, and the confusion matrix beside the curves.
    assert [row["label"] for row in card["per_class"]] == list(labels)
    assert sum(row["photos"] for row in card["per_class"]) == card["data"]["val_images"]
    assert np.array(card["confusion"]["counts"]).sum() == card["data"]["val_images"]
    assert (out / "confusion.png").stat().st_size > 0 and "recall" in card_md
    table = lines[lines.index("validation split, per class:") + 1:-2]
    assert [line.split()[0] for line in table] == ["class", *labels]
    # catdog's own epoch lines, one per epoch run.
    assert len([line for line in lines if line.startswith("epoch ")]) == card["epochs_run"]
    progress = re.compile(r"^(Epoch \d+/\d+|\s*\d+/\d+ )")
    assert all(line.startswith(own) or progress.match(line) for line in lines), lines
    assert not result.stdout.strip(), result.stdout  # training's results are files, not stdout
    return card


@pytest.mark.tf
def test_three_colour_classes_train_with_their_own_labels(tmp_path):
    import keras

    labels = ("apple", "banana", "cherry")
    data = write_colour_classes(tmp_path / "fruit", classes=labels, per_class=8)
    out = tmp_path / "fruit_run"
    result = _train(data, out, "--image-size", "48")
    assert result.exit_code == 0, result.output
    card = _own_labels_everywhere(out, result, labels, image_size=48)
    assert "3 classes: apple, banana, cherry" in (out / "card.md").read_text()
    assert card["loss"] == "categorical cross-entropy" and card["warmup_epochs"] == 0
    model = keras.models.load_model(out / "model.keras")
    assert model.input_shape == (None, 48, 48, 3) and model.output_shape == (None, 3)
    probabilities = model.predict(np.zeros((2, 48, 48, 3), np.float32), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.tf
def test_binary_folders_keep_a_sigmoid_unit_and_force_starts_over(tmp_path):
    import warnings

    import keras

    labels = ("hotdog", "not_hotdog")
    data = write_colour_classes(tmp_path / "food", classes=labels, per_class=8)
    out = tmp_path / "food_run"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # --verbose adds no warnings filter, so a Keras warning about our fit call would show here.
        result = _train(data, out, "--image-size", "48", "--verbose")
    assert result.exit_code == 0, result.output
    assert not [w for w in caught if "shuffle" in str(w.message)], "fit() must not pass shuffle to a tf.data dataset"
    _own_labels_everywhere(out, result, labels, image_size=48)
    assert "hotdog (0) vs not_hotdog (1)" in (out / "card.md").read_text()
    assert keras.models.load_model(out / "model.keras").output_shape == (None, 1)

    again = _train(data, out, "--image-size", "48")
    assert again.exit_code == 2 and "already holds a training run" in again.output
    forced = _train(data, out, "--image-size", "48", "--force", "--epochs", "1")
    assert forced.exit_code == 0, forced.output
    card = json.loads((out / "card.json").read_text())
    assert card["epochs_run"] == 1 and card["commands"] == [card["command"]] and "--force" in card["command"]
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 1


def test_evaluation_decides_labels_as_the_runtime_does():
    from catdog.runtime.engine import as_class_probabilities
    from catdog.runtime.prediction import decide
    from catdog.train.evaluate import evaluate

    # Ties go to the later label, so a sigmoid's 0.5 counts as labels[1], like p >= 0.5.
    sigmoid = as_class_probabilities(np.array([[0.5], [0.49], [0.9]]), num_classes=2)
    assert decide(sigmoid).tolist() == [1, 0, 1]
    assert decide(np.array([[0.4, 0.4, 0.2], [0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])).tolist() == [1, 2, 0]

    class Fixed:
        """Stands in for a Keras model: one softmax row per image, read from the image's first pixel."""

        def predict_on_batch(self, batch):
            rows = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
            return rows[batch[:, 0, 0, 0].astype(int)]

    images = np.zeros((4, 2, 2, 3), np.uint8)
    images[:, 0, 0, 0] = [0, 1, 2, 2]
    accuracy, loss = evaluate(Fixed(), images, np.array([0.0, 1.0, 2.0, 0.0]))
    assert accuracy == 0.75 and loss == pytest.approx(-(3 * np.log(0.8) + np.log(0.1)) / 4)
