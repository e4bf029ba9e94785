"""The training run's record: the model card (Markdown and JSON) and the learning curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catdog.train.checkpoint import write_text_atomically


def write_card(folder: Path, *, card: dict[str, Any]) -> None:
    """Write `card.json` and a human-readable `card.md` beside the model."""
    folder = Path(folder)
    write_text_atomically(folder / "card.json", json.dumps(card, indent=2) + "\n")
    data, config = card["data"], card["config"]
    lines = [
        "# catdog MiniResNet model card", "",
        f"- **Model:** `{card['model']}`, {card['architecture']}, {card['parameters']:,} parameters",
        "- **Task:** cat (0) vs dog (1) from a 64x64 RGB photo in raw 0..255 pixels; output is P(dog).",
        "- **Command:** " + " then ".join(f"`{command}`" for command in card.get("commands", [card["command"]])),
        f"- **Data:** `{data['folder']}`, classes {data['classes']}: {data['train_images']} training and "
        f"{data['val_images']} validation images ({data['method']}).",
        f"- **Training:** {card['epochs_run']} epochs (best {card['best_epoch']}), {card['wall_seconds']} s of "
        f"epochs on {card['machine']}; seed {config['seed']}, global batch {config['batch_size']}, "
        f"AdamW lr {config['learning_rate']} (warm-up {config['warmup_epochs']} epochs, cosine decay), "
        f"weight decay {config['weight_decay']}, label smoothing {config['label_smoothing']}.",
        f"- **Validation accuracy:** {card['val_accuracy']:.2%} (val loss {card['val_loss_unsmoothed']}) on the "
        "validation split; never selected on any test set.",
        f"- **Model spec:** `{json.dumps(card['model_spec'])}`",
        f"- **Versions:** {card['versions']}", "",
        "Curves: `curves.png`; per-epoch numbers: `history.csv`.", "",
    ]
    write_text_atomically(folder / "card.md", "\n".join(lines))


def write_curves(path: Path, history: list[dict[str, Any]]) -> None:
    """Plot accuracy and loss, train vs val, as the seed notebook did."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for axis, key, title in ((left, "accuracy", "Accuracy"), (right, "loss", "Loss")):
        axis.plot(epochs, [row.get(key) for row in history], label="train")
        axis.plot(epochs, [row.get(f"val_{key}") for row in history], label="val")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.legend()
    figure.tight_layout()
    temporary = Path(path).with_name(".curves.partial.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)
