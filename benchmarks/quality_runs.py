"""Model-quality runs of issue 14: one table row per `catdog-train` run, read from its card.

    python benchmarks/quality_runs.py runs/q30_base runs/q30_crop_ema ... \
        --out benchmarks/results/quality_runs.md

Each run's card.json (the exact command, config, epochs, wall time, validation accuracy) is
copied to benchmarks/results/quality_runs/<run name>.card.json, since runs/ is not committed,
and the table is (re)written from those copies, so rows of earlier runs stay. Accuracies are on
the validation split only (never a test set); minutes are wall time of the epochs on the
machine the card names, which was shared with other work, so they are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from catdog.train.config import TrainConfig
from catdog.train.swa import averaged_epochs

HERE = Path(__file__).resolve().parent
DEFAULTS = TrainConfig(data=Path("."))
LEVERS = ("image_size", "cache_scale", "crop_area", "antialias", "mixup", "ema", "ema_momentum")


def levers_text(config: dict) -> str:
    """The run's recipe in a few words: input size and the issue-14 levers it used."""
    height, width = config.get("image_size", (64, 64))
    parts = [f"{height}x{width}"]
    if config.get("cache_scale", 1.0) != 1.0:
        parts.append(f"cache x{config['cache_scale']}")
    parts.append(f"crops {config['crop_area']}" if config.get("crop_area") else "warp")
    if config.get("antialias"):
        parts.append("antialiased")
    if config.get("mixup"):
        parts.append(f"mixup {config['mixup']}")
    if config.get("ema"):
        parts.append(f"EMA {config['ema_momentum']}")
    if config.get("label_smoothing", DEFAULTS.label_smoothing) != DEFAULTS.label_smoothing:
        parts.append(f"label smoothing {config['label_smoothing']}")
    if config.get("seed", DEFAULTS.seed) != DEFAULTS.seed:
        parts.append(f"seed {config['seed']}")
    if config.get("swa_epochs"):
        parts.append(f"SWA over the last {config['swa_epochs']} epochs at lr {config['swa_learning_rate']}")
    teachers = config.get("teacher") or []
    teachers = [teachers] if isinstance(teachers, str) else teachers  # cards before ensembles held one path
    if teachers:
        parts.append(f"distilled (weight {config['distill_weight']}) from {' + '.join(teachers)}")
    return ", ".join(parts)


def row(card: dict, name: str) -> str:
    config = card["config"]
    # A card holds the run's "swa" record as the training state does.
    averaged = averaged_epochs(card)
    kept = f"mean of {averaged[0]}-{averaged[1]}" if averaged else f"best {card['best_epoch']}"
    return (f"| {name} | {levers_text(config)} | {card['epochs_run']} of {config['epochs']} ({kept}) | "
            f"{card['wall_seconds'] / 60:.1f} | {card['val_accuracy']:.2%} | {card['val_loss_unsmoothed']} | "
            f"`{card['command']}` |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="catdog-train --out folders to add")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "quality_runs.md")
    args = parser.parse_args()
    cards = args.out.with_suffix("")
    cards.mkdir(parents=True, exist_ok=True)
    # order.txt keeps the rows in the order the runs were added (a fresh clone's file times say nothing).
    order_file = cards / "order.txt"
    order = order_file.read_text().split() if order_file.exists() else []
    for run in args.runs:
        shutil.copyfile(run / "card.json", cards / f"{run.name}.card.json")
        order = [name for name in order if name != run.name] + [run.name]
    order += sorted(path.name.removesuffix(".card.json") for path in cards.glob("*.card.json")
                    if path.name.removesuffix(".card.json") not in order)
    order_file.write_text("\n".join(order) + "\n")
    rows = []
    for name in order:
        path = cards / f"{name}.card.json"
        rows.append(row(json.loads(path.read_text()), name))
    machine = json.loads(path.read_text())["machine"] if rows else ""
    lines = ["# Model-quality runs (issue 14)", "",
             f"Validation accuracy on the stratified 800-photo split (`--val-split 0.1`) of the shipped cats-and-dogs "
             f"data; {machine}, shared with other work (minutes are upper bounds). Cards: `{cards.name}/`.",
             "Made by `python benchmarks/quality_runs.py RUN...`.", "",
             "| run | recipe | epochs | minutes | val accuracy | val loss | command |",
             "|---|---|---|---|---|---|---|", *rows, ""]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
