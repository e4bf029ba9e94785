"""Per-epoch checkpoints that survive Ctrl-C, early stopping on val loss, and atomic writes.

After every epoch the callback writes the compiled model (with its optimizer state), the best
weights so far and a small JSON state, each to a temporary name first and then renamed, so an
interrupt at any moment leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from catdog.errors import CatdogError
from catdog.folders import write_atomically, write_text_atomically  # noqa: F401 - re-exported
from catdog.runtime.spec import ModelSpec

HISTORY_FIELDS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the per-epoch history as CSV."""
    def write(temporary):
        with open(temporary, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
    write_atomically(path, write)


def load_state(folder: Path) -> dict[str, Any] | None:
    """Return the saved training state in `folder`, or None when there is none."""
    path = Path(folder) / "state.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def load_resumable_state(folder: Path, *, spec: ModelSpec) -> dict[str, Any]:
    """The saved training state in `folder` for `--resume`. Raises CatdogError (one line) when there
    is none, or when it was trained on other labels or another input size than `spec` (a ModelSpec)."""
    state = load_state(folder)
    if state is None:
        raise CatdogError(f"--resume: no checkpoint in {folder}; run once without --resume first")
    if state.get("model_spec", spec.to_dict()) != spec.to_dict():
        old = ModelSpec.from_dict(state["model_spec"])
        raise CatdogError(f"--resume: the checkpoint was trained on {', '.join(old.labels)} at "
                          f"{old.image_size[0]}x{old.image_size[1]}, but this run has {', '.join(spec.labels)} at "
                          f"{spec.image_size[0]}x{spec.image_size[1]}; use --force to start over")
    return state


def fresh_state() -> dict[str, Any]:
    """The state of a run that has not finished an epoch yet."""
    return {"epoch": 0, "best_val_loss": None, "best_epoch": None, "wait": 0, "history": [], "seconds": 0.0}


def is_better(*, accuracy: float | None, loss: float | None, state: dict[str, Any]) -> bool:
    """The model-selection rule (issue 28 item 4, measured by benchmarks/small_data.py): a higher val
    accuracy, or the same with a lower val loss. A small split's loss is noisy and can be lowest in
    an early, barely trained epoch; accuracy is what the user gets, and the loss only breaks its ties."""
    if loss is None:
        return False
    best_accuracy, best_loss = state.get("best_val_accuracy"), state.get("best_val_loss")
    if best_loss is None:
        return True
    if accuracy is None or best_accuracy is None:  # a model without an accuracy metric: the loss alone
        return loss < best_loss
    return accuracy > best_accuracy or (accuracy == best_accuracy and loss < best_loss)


def make_checkpoint_callback(folder: Path, *, state: dict[str, Any], patience: int, writer: bool, ema_swap=None,
                             stop_until: int | None = None, skip_epochs: int = 0, keep_last: bool = False):
    """Build the Keras callback; `writer` is False on non-chief workers, which write nothing.

    Early stopping applies up to epoch `stop_until` (1-based; None: every epoch), so it never cuts
    short the epochs that stochastic weight averaging keeps (see `swa.py`). The first `skip_epochs`
    (a from-scratch run's warm-up) are never kept and never count towards `patience`; with
    `keep_last` (a validation split too small to choose by) every epoch replaces the one before.

    With `ema_swap` (the run's `keras.callbacks.SwapEMAWeights`, which validates the weight
    average) the best weights saved are the average; the resumable `last.keras` keeps the raw
    weights, with the average in its optimizer.
    """
    import keras

    folder = Path(folder)

    class EpochCheckpoint(keras.callbacks.Callback):
        """Checkpoint every epoch and stop after `patience` epochs without a better one (`is_better`)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            seconds = time.perf_counter() - self.started
            learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = {"epoch": epoch + 1, **{key: float(logs[key]) for key in HISTORY_FIELDS[1:5] if key in logs},
                   "learning_rate": learning_rate, "seconds": round(seconds, 3)}
            state["history"].append(row)
            state["epoch"], state["seconds"] = epoch + 1, state["seconds"] + seconds
            val_loss, val_accuracy = logs.get("val_loss"), logs.get("val_accuracy")
            warming_up = epoch + 1 <= skip_epochs
            improved = not warming_up and (keep_last or is_better(accuracy=val_accuracy, loss=val_loss, state=state))
            if improved:
                state["best_val_loss"], state["best_epoch"], state["wait"] = float(val_loss), epoch + 1, 0
                state["best_val_accuracy"] = float(val_accuracy) if val_accuracy is not None else None
            elif not warming_up:
                state["wait"] += 1
            if writer:
                folder.mkdir(parents=True, exist_ok=True)
                if improved:
                    if ema_swap is not None:
                        ema_swap.on_test_begin()  # the average into the model...
                    try:
                        write_atomically(folder / "best.weights.h5", self.model.save_weights)
                    finally:
                        if ema_swap is not None:
                            ema_swap.on_test_end()  # ...and the raw weights back
                write_atomically(folder / "last.keras", self.model.save)
                write_text_atomically(folder / "state.json", json.dumps(state, indent=1))
            if state["wait"] >= patience and (stop_until is None or epoch + 1 <= stop_until):
                print(f"early stopping: no better epoch for {patience} epochs (kept epoch {state['best_epoch']})",
                      file=sys.stderr)
                self.model.stop_training = True

    return EpochCheckpoint()
