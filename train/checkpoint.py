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


def make_checkpoint_callback(folder: Path, *, state: dict[str, Any], patience: int, writer: bool, ema_swap=None,
                             stop_until: int | None = None):
    """Build the Keras callback; `writer` is False on non-chief workers, which write nothing.

    Early stopping applies up to epoch `stop_until` (1-based; None: every epoch), so it never cuts
    short the epochs that stochastic weight averaging keeps (see `swa.py`).

    With `ema_swap` (the run's `keras.callbacks.SwapEMAWeights`, which validates the weight
    average) the best weights saved are the average; the resumable `last.keras` keeps the raw
    weights, with the average in its optimizer.
    """
    import keras

    folder = Path(folder)

    class EpochCheckpoint(keras.callbacks.Callback):
        """Checkpoint every epoch and stop when val loss has not improved for `patience` epochs."""

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
            val_loss = logs.get("val_loss")
            improved = val_loss is not None and (state["best_val_loss"] is None or val_loss < state["best_val_loss"])
            if improved:
                state["best_val_loss"], state["best_epoch"], state["wait"] = float(val_loss), epoch + 1, 0
            else:
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
                print(f"\nEarly stopping: val loss has not improved for {patience} epochs "
                      f"(best {state['best_val_loss']:.4f} at epoch {state['best_epoch']}).", file=sys.stderr)
                self.model.stop_training = True

    return EpochCheckpoint()
