"""What `catdog-train` tells its user: the data it found, the task in the run's own labels,
what it saved and the command to run next.

Every sentence is built from the run's class names (the data's folder names, sorted), so no
message or card line names classes the user does not have.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Mapping, Sequence

# Beyond this many classes, lists name the first few and count the rest, so a line stays a line.
LISTED_CLASSES = 6


def task_text(labels: Sequence[str]) -> str:
    """The classification task in words: `hotdog vs not_hotdog` or `3 classes: apple, banana, cherry`."""
    if len(labels) == 2:
        return f"{labels[0]} vs {labels[1]}"
    return f"{len(labels)} classes: {_listed(labels)}"


def class_counts_text(counts: Mapping[str, int]) -> str:
    """`cats 4,000, dogs 4,000`, naming at most LISTED_CLASSES classes."""
    items = [f"{name} {count:,}" for name, count in counts.items()]
    return _listed(items)


def _listed(items: Sequence[str]) -> str:
    if len(items) <= LISTED_CLASSES:
        return ", ".join(items)
    return ", ".join(items[:LISTED_CLASSES]) + f" and {len(items) - LISTED_CLASSES:,} more"


def found_message(train_counts: Mapping[str, int], val_counts: Mapping[str, int], *,
                  val_folder: Path | None = None) -> str:
    """The first line of a run: what was found and how it is split.

    `train_counts` and `val_counts` map each class name to its number of images. Without
    `val_folder` both come from one split folder, so the found total is their sum.
    """
    train_total, val_total = sum(train_counts.values()), sum(val_counts.values())
    if val_folder is None:
        counts = {name: train_counts[name] + val_counts.get(name, 0) for name in train_counts}
        return (f"found {train_total + val_total:,} images in {len(counts)} classes ({class_counts_text(counts)}); "
                f"training on {train_total:,}, validating on {val_total:,}")
    return (f"found {train_total:,} images in {len(train_counts)} classes ({class_counts_text(train_counts)}); "
            f"training on all {train_total:,}, validating on {val_total:,} from {val_folder}")


# Below these counts a class's validation recall, or its training, cannot be trusted (issue 28 item 5).
FEW_VAL_PHOTOS = 10
FEW_TRAIN_PHOTOS = 5


def few_photos_warnings(train_counts: Mapping[str, int], val_counts: Mapping[str, int]) -> list[str]:
    """One warning line per class with fewer than FEW_VAL_PHOTOS validation or FEW_TRAIN_PHOTOS training photos."""
    lines = []
    for name in train_counts:
        train, val = train_counts[name], val_counts.get(name, 0)
        problems = ([f"{val} validation photo{'s' * (val != 1)} (its recall moves {100 / max(val, 1):.0f} points a photo)"]
                    if val < FEW_VAL_PHOTOS else [])
        problems += [f"{train} training photo{'s' * (train != 1)}"] if train < FEW_TRAIN_PHOTOS else []
        if problems:
            lines.append(f"warning: class {name} has only {' and '.join(problems)}; add photos of {name} "
                         "for results you can trust")
    return lines


def saved_message(model_path: Path, *, val_accuracy: float, best_epoch: int, epochs_run: int,
                  averaged: tuple[int, int] | None = None, kept_last: bool = False) -> str:
    """`saved runs/x/model.keras: val accuracy 89.75% (best epoch 65 of 80)`, with SWA's `averaged`
    (first, last) epochs `(mean of epochs 76-100 of 100)`, or, when the validation photos were too
    few to choose by (`kept_last`), `(last epoch 5 of 5)`."""
    kept = (f"mean of epochs {averaged[0]}-{averaged[1]}" if averaged else
            f"last epoch {best_epoch}" if kept_last else f"best epoch {best_epoch}")
    return f"saved {model_path}: val accuracy {val_accuracy:.2%} ({kept} of {epochs_run})"


def next_command(model_path: Path) -> str:
    """The command that turns the saved model into quantized edge files."""
    return f"next: {shlex.join(['catdog-export', str(model_path), '--int8'])}"
