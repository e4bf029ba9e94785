"""`catdog-train`: a thin click wrapper around `catdog.train.fit.train`."""

from __future__ import annotations

from pathlib import Path

import click

from catdog.clikit import RecordedCommand, invoked_command
from catdog.errors import exit_on_error
from catdog.train.config import TrainConfig

DEFAULTS = TrainConfig(data=Path("."))


@click.command("catdog-train", cls=RecordedCommand, context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("--data", "data", type=click.Path(path_type=Path), required=True,
              help="Folder with class subfolders (cats/, dogs/), or the seed's folder holding training_set/.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULTS.out,
              help="Output folder for model.keras, history.csv, curves.png and the card.")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULTS.epochs, help="Maximum number of epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size,
              help="Global batch size (split over replicas).")
@click.option("--seed", type=int, default=DEFAULTS.seed, help="Random seed; same seed, same weights on CPU.")
@click.option("--val-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULTS.val_split,
              help="Fraction of each class held out for validation (ignored with --val).")
@click.option("--val", type=click.Path(path_type=Path), default=None,
              help="A separate validation folder with class subfolders, instead of a split.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in OUT/checkpoint.")
@click.option("--learning-rate", type=float, default=DEFAULTS.learning_rate, help="Peak AdamW learning rate.")
@click.option("--weight-decay", type=float, default=DEFAULTS.weight_decay, help="AdamW decoupled weight decay.")
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=DEFAULTS.warmup_epochs,
              help="Linear warm-up epochs before cosine decay.")
@click.option("--label-smoothing", type=click.FloatRange(0, 0.5), default=DEFAULTS.label_smoothing,
              help="Binary label smoothing.")
@click.option("--patience", type=click.IntRange(min=1), default=DEFAULTS.patience,
              help="Stop after this many epochs without a better val loss (best weights are kept).")
@click.option("--augment/--no-augment", default=DEFAULTS.augment, help="Random flip, zoom, shear, rotation, shift, colour.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default=DEFAULTS.strategy,
              help="tf.distribute strategy: one device, all local GPUs, or workers from TF_CONFIG.")
@click.option("--cache", type=click.Choice(["memory", "disk"]), default=DEFAULTS.cache,
              help="Keep decoded 64x64 images in memory, or memory-mapped on disk for large datasets.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where --cache disk keeps its files  [default: OUT/cache]")
def main(**options) -> None:
    """Train the MiniResNet cats-vs-dogs classifier on a folder of photos."""
    config = TrainConfig(**options)
    command = invoked_command()
    with exit_on_error():
        from catdog.train.fit import train

        train(config, command=command)


if __name__ == "__main__":
    main()
