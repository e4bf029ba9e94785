"""Tests for stochastic weight averaging (catdog.train.swa): the schedule's constant tail, the running
mean and its checkpoint, the batch-norm pass, the options' refusals and a whole `--swa-epochs` run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from catdog.errors import CatdogError
from catdog.train.cli import main
from conftest import write_class_folder


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "3", "--swa-epochs", "3"], "--swa-epochs 3 must be fewer than --epochs 3"),
    (["--swa-epochs", "5", "--swa-learning-rate", "0.01"], "--swa-learning-rate 0.01 is above the peak"),
])
def test_swa_options_that_cannot_work_exit_2_in_one_line(photo_folder, tmp_path, extra, message):
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("record, extra, message", [
    ({"count": 3, "epoch": 10}, ["--epochs", "12", "--swa-epochs", "4"], "average began at epoch 8, but"),
    ({"count": 3, "epoch": 10}, ["--epochs", "12"], "average from epoch 13; resume with the first command's"),
    (None, ["--epochs", "12", "--swa-epochs", "5"], "would average from epoch 8, but the checkpoint already trained"),
])
def test_resume_refuses_an_average_outside_the_new_window(photo_folder, tmp_path, record, extra, message):
    # A run at epoch 10 whose mean covers epochs 8-10 (or that has no mean yet).
    checkpoint = tmp_path / "o" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text(json.dumps({"epoch": 10, "swa": record}))
    result = CliRunner().invoke(main, ["--data", str(photo_folder), "--out", str(tmp_path / "o"), "--resume", *extra])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_help_names_the_swa_options():
    text = " ".join(CliRunner().invoke(main, ["--help"]).output.split())
    assert "--swa-epochs" in text and "--swa-learning-rate" in text and "[default: 0.0002" in text


@pytest.mark.tf
def test_the_schedule_decays_to_the_swa_rate_and_holds_it():
    from catdog.train.schedule import learning_rate_schedule

    for warmup in (0, 2):
        schedule = learning_rate_schedule(peak=1e-3, epochs=10, warmup_epochs=warmup, steps_per_epoch=5,
                                          constant_epochs=4, final_rate=1e-4)
        rates = [float(schedule(step)) for step in range(50)]
        assert rates[29] > 1e-4 * 1.001  # still decaying in the sixth epoch
        assert all(rate == pytest.approx(1e-4) for rate in rates[30:])  # the last four epochs hold it
        assert max(rates) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="between 0 and the peak"):
        learning_rate_schedule(peak=1e-3, epochs=10, warmup_epochs=0, steps_per_epoch=5, final_rate=2e-3)


@pytest.mark.tf
def test_the_running_mean_covers_the_last_epochs_and_resumes_from_its_checkpoint(tmp_path):
    import keras

    from catdog.train.swa import load_average, make_averaging_callback

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    rng = np.random.default_rng(0)
    epochs = [[rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()] for _ in range(5)]
    state: dict = {}
    callback = make_averaging_callback(tmp_path, state=state, start_after=1, writer=True)
    callback.set_model(model)
    for epoch in range(4):  # 0-based; epochs 2-4 (1-based) are averaged
        model.set_weights(epochs[epoch])
        callback.on_epoch_end(epoch)
    expected = [np.mean([epochs[e][index] for e in (1, 2, 3)], axis=0) for index in range(2)]
    assert state["swa"] == {"count": 3, "epoch": 4}
    assert all(np.allclose(mean, value, atol=1e-6) for mean, value in zip(callback.average, expected))
    # The file the saved state named (epoch 3) stays until the next state is written.
    assert sorted(path.name for path in tmp_path.glob("*.npz")) == ["swa-epoch3.npz", "swa-epoch4.npz"]

    # --resume: a new callback continues the mean the state names.
    saved = json.loads(json.dumps(state))
    loaded = load_average(tmp_path, state=saved)
    assert all(np.array_equal(a, b) for a, b in zip(loaded, callback.average))
    resumed = make_averaging_callback(tmp_path, state=saved, start_after=1, writer=True, average=loaded)
    resumed.set_model(model)
    model.set_weights(epochs[4])
    resumed.on_epoch_end(4)
    expected = [np.mean([epochs[e][index] for e in (1, 2, 3, 4)], axis=0) for index in range(2)]
    assert all(np.allclose(mean, value, atol=1e-6) for mean, value in zip(resumed.average, expected))
    assert sorted(path.name for path in tmp_path.glob("*.npz")) == ["swa-epoch4.npz", "swa-epoch5.npz"]
    assert load_average(tmp_path, state={}) is None
    (tmp_path / "swa-epoch5.npz").unlink()
    with pytest.raises(CatdogError, match="weight average .* is missing; add --force"):
        load_average(tmp_path, state=saved)


@pytest.mark.tf
def test_batch_norm_statistics_become_the_mean_of_the_batch_statistics():
    import keras

    from catdog.train.swa import recompute_batch_norm_statistics

    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.BatchNormalization(momentum=0.9)])
    rng = np.random.default_rng(1)
    batches = [(rng.normal(loc=3.0, scale=2.0, size=(8, 4, 4, 2)).astype(np.float32), None) for _ in range(3)]
    assert recompute_batch_norm_statistics(model, batches) == 3
    layer = model.layers[0]
    means = np.mean([images.mean(axis=(0, 1, 2)) for images, _ in batches], axis=0)
    variances = np.mean([images.var(axis=(0, 1, 2)) for images, _ in batches], axis=0)
    assert np.allclose(layer.moving_mean.numpy(), means, atol=1e-5)
    assert np.allclose(layer.moving_variance.numpy(), variances, rtol=1e-3)
    assert layer.momentum == 0.9  # restored


@pytest.mark.tf
def test_an_swa_run_saves_the_mean_reproducibly_and_records_it(tmp_path):
    import keras

    data = write_class_folder(tmp_path / "data", per_class=8)
    args = ["--data", str(data), "--epochs", "3", "--batch-size", "8", "--val-split", "0.25", "--swa-epochs", "2",
            "--swa-learning-rate", "0.0005", "--ema"]
    runs = [CliRunner().invoke(main, [*args, "--out", str(tmp_path / name)], catch_exceptions=False)
            for name in ("one", "two")]
    assert all(run.exit_code == 0 for run in runs), runs[0].output
    assert "model.keras holds the mean of the weights after epochs 2-3 (SWA)" in runs[0].output
    assert f"saved {tmp_path / 'one' / 'model.keras'}: val accuracy " in runs[0].output
    assert "(mean of epochs 2-3 of 3)" in runs[0].output
    weights = [keras.models.load_model(tmp_path / name / "model.keras").get_weights() for name in ("one", "two")]
    assert all(np.array_equal(a, b) for a, b in zip(*weights))
    card = json.loads((tmp_path / "one" / "card.json").read_text())
    assert card["swa"]["count"] == 2 and card["swa"]["epoch"] == 3 and card["swa"]["batch_norm_batches"] == 2
    assert card["config"]["swa_epochs"] == 2 and "(SWA)" in (tmp_path / "one" / "card.md").read_text()
    rates = [float(line.split(",")[5]) for line in (tmp_path / "one" / "history.csv").read_text().splitlines()[1:]]
    assert rates[1:] == pytest.approx([5e-4, 5e-4])  # the averaged epochs end at the constant rate
    checkpoint = tmp_path / "one" / "checkpoint"
    average = np.load(checkpoint / "swa-epoch3.npz")
    # The saved model is the mean, with its own batch-norm statistics: trainable weights equal the
    # checkpointed mean; the batch-norm moving statistics were recomputed and differ from it.
    model = keras.models.load_model(tmp_path / "one" / "model.keras")
    names = [variable.path for variable in model.weights]
    same = [np.array_equal(value, average[f"w{index}"]) for index, value in enumerate(model.get_weights())]
    assert all(ok for ok, name in zip(same, names) if "moving" not in name)
    assert not all(ok for ok, name in zip(same, names) if "moving" in name)
    # --force starts over and drops the old run's averages (epochs 2 and 3) at once.
    assert CliRunner().invoke(main, [*args, "--out", str(tmp_path / "one"), "--force", "--epochs", "5"]).exit_code == 0
    assert sorted(path.name for path in checkpoint.glob("*.npz")) == ["swa-epoch4.npz", "swa-epoch5.npz"]


@pytest.mark.tf
def test_early_stopping_never_cuts_the_averaged_epochs_short(tmp_path):
    import keras

    from catdog.train.checkpoint import fresh_state, make_checkpoint_callback

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    for stop_until, stops in ((None, True), (2, True), (1, False)):
        state = fresh_state()
        callback = make_checkpoint_callback(tmp_path / str(stop_until), state=state, patience=1, writer=False,
                                            stop_until=stop_until)
        callback.set_model(model)
        model.stop_training = False
        for epoch, val_loss in enumerate((1.0, 2.0, 3.0)):
            callback.on_epoch_begin(epoch)
            callback.on_epoch_end(epoch, {"val_loss": val_loss})
        assert model.stop_training is stops, stop_until
