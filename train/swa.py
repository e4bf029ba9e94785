"""Stochastic weight averaging (SWA): an equal-weight mean of the weights over a run's last epochs.

Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better Generalization",
as in torch.optim.swa_utils: with `--swa-epochs K` the learning-rate schedule's cosine ends K
epochs early at `--swa-learning-rate` and stays there (see `schedule.py`), and after each of
those last K epochs the weights join a running mean. With `--ema` the mean is of the weight
average that validation sees. At the end the mean goes into the model and its batch-norm
statistics are recomputed by one pass over the training batches in training mode (the paper's
`bn_update`), because an average of weights is a new network whose activations have statistics
of their own.

The mean and its count are checkpointed after every averaged epoch, so `--resume` continues
it: each file is named after its epoch, and the one the saved training state names is kept
until the next state is written, so a Ctrl-C between the two writes loses nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from catdog.errors import CatdogError
from catdog.train.checkpoint import write_atomically

FILE_PATTERN = "swa-epoch*.npz"


def check_swa_options(*, epochs: int, swa_epochs: int, swa_learning_rate: float, learning_rate: float) -> None:
    """Raise CatdogError (one line) for --swa-epochs that leave no epoch before averaging, or a
    --swa-learning-rate above the peak rate, which the cosine could not decay to."""
    if swa_epochs and swa_epochs >= epochs:
        raise CatdogError(f"--swa-epochs {swa_epochs} must be fewer than --epochs {epochs}: the epochs before "
                          "them train at the decaying rate")
    if swa_epochs and swa_learning_rate > learning_rate:
        raise CatdogError(f"--swa-learning-rate {swa_learning_rate} is above the peak --learning-rate "
                          f"{learning_rate}; give a lower one (a tenth of the peak is usual)")


def averaging_starts_after(*, epochs: int, swa_epochs: int) -> int:
    """The last epoch (1-based) before averaging; epochs after it are averaged. 0 averages from the first."""
    return max(0, epochs - swa_epochs)


def average_file(folder: Path, epoch: int) -> Path:
    """Where the running mean after `epoch` (1-based) is kept."""
    return Path(folder) / f"swa-epoch{epoch}.npz"


def check_resumed_average(state: dict[str, Any], *, start_after: int, swa_epochs: int) -> None:
    """Raise CatdogError (one line) when `--resume` would continue a weight average that does not
    fit this command's window (epochs after `start_after`): one begun at another epoch, or a window
    that began in epochs already trained without averaging. The mean would hold other epochs than
    the card says."""
    covered = averaged_epochs(state)
    done = int(state.get("epoch", 0))
    if covered and covered[0] != start_after + 1:
        raise CatdogError(f"--resume: the checkpoint's weight average began at epoch {covered[0]}, but these "
                          f"--epochs and --swa-epochs average from epoch {start_after + 1}; resume with the "
                          "first command's values, or add --force to start over")
    if swa_epochs and not covered and done > start_after:
        raise CatdogError(f"--resume: --swa-epochs {swa_epochs} would average from epoch {start_after + 1}, but the "
                          f"checkpoint already trained to epoch {done} without averaging; give fewer "
                          "--swa-epochs or more --epochs, or add --force to start over")


def load_average(folder: Path, *, state: dict[str, Any]) -> list[np.ndarray] | None:
    """The running mean the saved training `state` names, as float32 arrays in `model.get_weights()`
    order, or None before averaging began. Raises CatdogError (one line) when the named file is gone."""
    record = state.get("swa")
    if not record or not record.get("count"):
        return None
    path = average_file(folder, record["epoch"])
    if not path.exists():
        raise CatdogError(f"--resume: the checkpoint's weight average {path} is missing; add --force to start over")
    with np.load(path) as saved:
        return [saved[f"w{index}"] for index in range(len(saved.files))]


def make_averaging_callback(folder: Path, *, state: dict[str, Any], start_after: int, writer: bool,
                            ema_swap=None, average: list[np.ndarray] | None = None):
    """Build the Keras callback that adds the weights after each epoch > `start_after` to the mean.

    `state["swa"]` gets {"count", "epoch"}; it must run before the checkpoint callback, which
    writes the state. `average` is the mean to continue (from `load_average`) on `--resume`.
    With `ema_swap` the weights averaged are the EMA average (what validation sees).
    """
    import keras

    folder = Path(folder)

    class WeightAverage(keras.callbacks.Callback):
        """Running equal-weight mean of every model variable, batch-norm statistics included."""

        def __init__(self):
            super().__init__()
            self.average = average

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 <= start_after:
                return
            if ema_swap is not None:
                ema_swap.on_test_begin()
            try:
                weights = [np.asarray(value, np.float32) for value in self.model.get_weights()]
            finally:
                if ema_swap is not None:
                    ema_swap.on_test_end()
            record = state.setdefault("swa", {"count": 0, "epoch": None})
            count = record["count"]
            if self.average is None or count == 0:
                self.average = weights
            else:
                # mean_{n+1} = mean_n + (w - mean_n) / (n + 1): torch's AveragedModel update.
                self.average = [mean + (value - mean) / np.float32(count + 1)
                                for mean, value in zip(self.average, weights)]
            kept = record["epoch"]  # the file the state on disk names, until this epoch's state is written
            record["count"], record["epoch"] = count + 1, epoch + 1
            if writer:
                folder.mkdir(parents=True, exist_ok=True)
                write_atomically(average_file(folder, epoch + 1), lambda path: np.savez(
                    path, **{f"w{index}": value for index, value in enumerate(self.average)}))
                remove_stale_averages(folder, keep=(kept, epoch + 1))

    return WeightAverage()


def remove_stale_averages(folder: Path, *, keep: tuple[int | None, ...]) -> None:
    """Delete the running-mean files of epochs not in `keep`."""
    names = {average_file(folder, epoch).name for epoch in keep if epoch is not None}
    for path in Path(folder).glob(FILE_PATTERN):
        if path.name not in names:
            path.unlink(missing_ok=True)


def batch_norm_layers(model) -> list:
    """Every BatchNormalization layer of `model`, nested models included."""
    import keras

    found, pending = [], list(model.layers)
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        pending.extend(getattr(layer, "layers", []))
    return found


def recompute_batch_norm_statistics(model, batches) -> int:
    """Set every batch-norm layer's moving mean and variance to their mean over `batches`.

    `batches` yields (images, targets) pairs, images (B, H, W, C) float32 as the model takes
    them; only the images are used. Each layer's momentum is set to n / (n + 1) for the n-th
    batch (0-based), so its moving statistics become the plain mean of the batch statistics
    (torch.optim.swa_utils.update_bn's cumulative average); the momenta are restored after.
    Returns the number of batches; the weights themselves are not changed.
    """
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for images, _ in batches:
            for layer in layers:
                layer.momentum = count / (count + 1)
            model(images, training=True)
            count += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count


def averaged_epochs(state: dict[str, Any]) -> tuple[int, int] | None:
    """The (first, last) 1-based epochs in the saved mean, or None when none is."""
    record = state.get("swa") or {}
    return (record["epoch"] - record["count"] + 1, record["epoch"]) if record.get("count") else None


def use_average(model, average, *, state: dict[str, Any], batches) -> None:
    """Put the SWA mean into `model` and recompute its batch-norm statistics over `batches()`, a
    fresh pass of training batches; say which epochs it holds. A run stopped before averaging
    began keeps its best epoch, and says so."""
    record = state.get("swa") or {}
    if average is None or not record.get("count"):
        print("the run stopped before the --swa-epochs began; model.keras holds the best epoch instead",
              file=sys.stderr)
        return
    model.set_weights(average)
    record["batch_norm_batches"] = recompute_batch_norm_statistics(model, batches())
    first, last = averaged_epochs(state)
    print(f"model.keras holds the mean of the weights after epochs {first}-{last} (SWA), batch-norm "
          f"statistics recomputed over {record['batch_norm_batches']} training batches", file=sys.stderr)
