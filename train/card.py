"""The training run's record: the model card (Markdown and JSON) and the learning curves.

Both speak of the run's own labels (`card["model_spec"]["labels"]`, the data's class folder
names) and its own input size; nothing here knows the shipped model's classes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from catdog.train.checkpoint import write_atomically, write_text_atomically
from catdog.train.report import class_counts_text, task_text


def teacher_lines(teachers: Sequence[dict[str, Any]], *, weight: float) -> list[str]:
    """The card's distillation lines: each teacher's file, hash, accuracy and command, and the weight."""
    if not teachers:
        return []
    lines = [f"- **Teacher{'s (their mean probability)' if len(teachers) > 1 else ''}:** distillation weight {weight}"]
    lines += [f"  - `{teacher['model']}` (sha256 {teacher['sha256'][:12]}..., val accuracy {teacher.get('val_accuracy')}, "
              f"made by `{teacher.get('command')}`)" for teacher in teachers]
    return lines


def init_lines(init: dict[str, Any] | None) -> list[str]:
    """The card's --init line: the starting model's file, hash, labels, head and the card it came from."""
    if not init:
        return []
    made = init.get("card") or {}
    return [f"- **Started from:** `{init['model']}` (sha256 {init['sha256'][:12]}..., labels {init.get('labels')}, "
            f"head {init['head']}" + (f"; its card `{made['path']}` (sha256 {made['sha256'][:12]}...): val accuracy "
                                     f"{made.get('val_accuracy')}" if made else "") + ")"]


def describe_validation(data: dict) -> str:
    """What the run validated on, from the card's data: "validation folder val" (--val) or "validation split"."""
    return f"validation folder {data['val']}" if data.get("val") else "validation split"


def per_class_lines(rows, *, validation: str = "validation split") -> list[str]:
    """The card's per-class table (on `validation`) as Markdown lines."""
    if not rows:
        return []
    def percent(value):
        return "-" if value is None else f"{value:.1%}"
    return [f"- **Per class ({validation}):**", "", "  | class | photos | precision | recall |",
            "  |---|---:|---:|---:|",
            *[f"  | {row['label']} | {row['photos']:,} | {percent(row['precision'])} | {percent(row['recall'])} |"
              for row in rows], ""]


def describe_task(spec: dict[str, Any]) -> str:
    """The card's task sentence for a ModelSpec dict: labels with indices, input and output."""
    labels = spec["labels"]
    height, width = spec["image_size"]
    source = f"from a {height}x{width} RGB photo in raw 0..255 pixels"
    if spec["output"] == "sigmoid":
        return f"{labels[0]} (0) vs {labels[1]} (1) {source}; output is P({labels[1]})."
    return (f"{task_text(labels)} {source}; output is {len(labels)} softmax probabilities "
            "in that order.")


def describe_recipe(config: dict[str, Any]) -> str:
    """The card's augmentation and weight-averaging sentence for a TrainConfig dict (older cards
    without the issue-14 levers read as the warp without averaging)."""
    height, width = config.get("image_size", (64, 64))
    scale = config.get("cache_scale", 1.0)
    if not config.get("augment", True):
        text = "no augmentation"
    elif config.get("crop_area", 0.0) > 0:
        text = (f"random-resized crops of {config['crop_area']:.0%}-100% of the area (aspect 3:4-4:3) plus flip, "
                "rotation, shear and colour jitter")
    else:
        text = "affine warp (flip, zoom, shear, rotation, shift) and colour jitter"
    if config.get("augment", True):
        text += (f", drawn from training photos cached at {round(height * scale)}x{round(width * scale)} "
                 f"(--cache-scale {scale})")
    if config.get("augment", True) and config.get("antialias"):
        text += ", each crop shrunk to the input size by an antialiasing filter"
    if config.get("augment", True) and config.get("mixup", 0.0) > 0:
        text += f", then mixup within each batch (Beta({config['mixup']}, {config['mixup']}) weight)"
    if config.get("ema"):
        text += f"; validated and saved as the weights' moving average (EMA momentum {config['ema_momentum']})"
    if config.get("swa_epochs"):
        text += (f"; saved as the mean of the weights after each of the last {config['swa_epochs']} epochs, trained at "
                 f"a constant lr {config['swa_learning_rate']} (SWA), with batch-norm statistics recomputed")
    return text + "."


def write_card(folder: Path, *, card: dict[str, Any]) -> None:
    """Write `card.json` and a human-readable `card.md` beside the model."""
    folder = Path(folder)
    write_text_atomically(folder / "card.json", json.dumps(card, indent=2) + "\n")
    data, config = card["data"], card["config"]
    validation = describe_validation(data)
    counts = data.get("class_counts", {})
    classes = (f"{len(data['classes'])} classes ({class_counts_text(counts['train'])} for training)"
               if counts else f"classes {data['classes']}")
    lines = [
        f"# Model card: {card['run']}", "",
        f"- **Model:** `{card['model']}`, {card['architecture']}, {card['parameters']:,} parameters",
        f"- **Task:** {describe_task(card['model_spec'])}",
        "- **Command:** " + " then ".join(f"`{command}`" for command in card.get("commands", [card["command"]])),
        f"- **Data:** `{data['folder']}`, {classes}: {data['train_images']:,} training and "
        f"{data['val_images']:,} validation images ({data['method']}).",
        f"- **Training:** {card['epochs_run']} epochs (best {card['best_epoch']}), {card['wall_seconds']} s of "
        f"epochs on {card['machine']}; seed {config['seed']}, global batch {config['batch_size']}, "
        f"AdamW lr {config['learning_rate']} (warm-up {card['warmup_epochs']} of {config['epochs']} planned epochs, then cosine decay), "
        f"weight decay {config['weight_decay']}, {card['loss']} with label smoothing {config['label_smoothing']}.",
        f"- **Recipe:** {describe_recipe(config)[:1].upper()}{describe_recipe(config)[1:]}",
        *teacher_lines(card.get("teachers") or [], weight=config["distill_weight"]),
        *init_lines(card.get("init")),
        f"- **Validation accuracy:** {card['val_accuracy']:.2%} (unsmoothed val loss {card['val_loss_unsmoothed']}; `history.csv` logs the label-smoothed loss) on the "
        f"{validation}; never selected on any test set.",
        *per_class_lines(card.get("per_class"), validation=validation),
        f"- **Model spec:** `{json.dumps(card['model_spec'])}`",
        f"- **Versions:** {card['versions']}", "",
        "Curves: `curves.png`; confusion matrix: `confusion.png`; per-epoch numbers: `history.csv`.", "",
    ]
    write_text_atomically(folder / "card.md", "\n".join(lines))


def curves_title(run: str, labels: Sequence[str]) -> str:
    """`runs/x: apple vs banana` style title naming the run and its labels."""
    return f"{run}: {task_text(labels)}"


def write_curves(path: Path, history: list[dict[str, Any]], *, title: str, best_epoch: int | None,
                 averaged: tuple[int, int] | None = None) -> None:
    """Plot accuracy and loss, train vs val, per epoch, marking the weights kept: the best epoch,
    or the (first, last) epochs whose mean SWA kept.

    The title is also stored as the PNG's `Title` text chunk, so tools can read which run a
    chart belongs to.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, label in ((left, "accuracy", "accuracy"), (right, "loss", "loss (label-smoothed cross-entropy)")):
        axis.plot(epochs, [row.get(key) for row in history], marker=".", label="train")
        axis.plot(epochs, [row.get(f"val_{key}") for row in history], marker=".", label="val")
        if averaged is not None:
            axis.axvspan(averaged[0] - 0.5, averaged[1] + 0.5, color="tab:green", alpha=0.15,
                         label=f"epochs {averaged[0]}-{averaged[1]} (their mean kept, SWA)")
        elif best_epoch is not None:
            axis.axvline(best_epoch, color="tab:green", linestyle="--", linewidth=1,
                         label=f"best epoch {best_epoch} (weights kept)")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    write_atomically(Path(path), lambda temporary: figure.savefig(temporary, dpi=100, metadata={"Title": title}))
    plt.close(figure)


def write_confusion(path: Path, matrix, *, labels: Sequence[str], title: str) -> None:
    """Plot the (K, K) confusion counts (rows true, columns decided) with the label names on both axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.6 * len(labels) + 2.5)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    ticks = range(len(labels))
    axis.set_xticks(ticks, labels, rotation=45, ha="right")
    axis.set_yticks(ticks, labels)
    axis.set_xlabel("decided class")
    axis.set_ylabel("true class")
    peak = max(1, int(matrix.max()))
    for row in ticks:
        for column in ticks:
            axis.text(column, row, f"{int(matrix[row][column]):,}", ha="center", va="center",
                      color="white" if matrix[row][column] > peak / 2 else "black")
    axis.set_title(title)
    figure.tight_layout()
    write_atomically(Path(path), lambda temporary: figure.savefig(temporary, dpi=100, metadata={"Title": title}))
    plt.close(figure)
