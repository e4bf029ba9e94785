"""`catdog-train`: a thin click wrapper around `catdog.train.fit.train`."""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path

import click

from catdog.clikit import RecordedCommand, invoked_command
from catdog.errors import exit_on_error
from catdog.train.config import SCRATCH_EPOCHS, SCRATCH_LEARNING_RATE, TrainConfig
from catdog.train.init import INIT_EPOCHS, INIT_LEARNING_RATE
from catdog.train.model import MIN_IMAGE_SIZE

DEFAULTS = TrainConfig(data=Path("."))
VERBOSE_HELP = "Show library logs (TensorFlow, LiteRT, FFmpeg) too."


class ImageSize(click.ParamType):
    """`N` (a square N x N input) or `HxW` (height by width), each side at least MIN_IMAGE_SIZE pixels."""

    name = "N|HxW"

    def get_metavar(self, param, ctx=None) -> str:
        return self.name  # click would upper-case the x

    def convert(self, value, param, ctx) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(value))
        if not match:
            self.fail(f"{value!r} is not a size: give N (e.g. 64) or HxW (e.g. 48x64)", param, ctx)
        height = int(match.group(1))
        width = int(match.group(2) or height)
        if min(height, width) < MIN_IMAGE_SIZE:
            self.fail(f"{value!r} is too small: the MiniResNet needs at least {MIN_IMAGE_SIZE} pixels a side",
                      param, ctx)
        return height, width


@click.command("catdog-train", cls=RecordedCommand, context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("--data", "data", type=click.Path(path_type=Path), required=True,
              help="Folder with one subfolder of photos per class (two or more); the subfolder names, sorted, "
                   "are the labels. The seed's folder holding training_set/ works too.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder for model.keras, history.csv, curves.png and the card  "
                   "[default: runs/<name of the --data folder>]")
@click.option("--image-size", type=ImageSize(), default=str(DEFAULTS.image_size[0]),
              help="Model input size in pixels: N for N x N, or HxW.")
@click.option("--init", type=click.Path(path_type=Path), default=None,
              help="Start from this catdog model's weights (runtime/models/catdog.keras, a ladder rung such as "
                   "runtime/models/catdog128/model.keras, or an earlier run's model.keras), at any --image-size: "
                   "its backbone always, its head too when its labels are this run's. Best for small datasets.")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=f"Maximum number of epochs  [default: {SCRATCH_EPOCHS}, or {INIT_EPOCHS} with --init]")
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size,
              help="Global batch size (split over replicas).")
@click.option("--seed", type=int, default=DEFAULTS.seed, help="Random seed; same seed, same weights on CPU.")
@click.option("--val-split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=DEFAULTS.val_split,
              help="Fraction of each class held out for validation (ignored with --val).")
@click.option("--val", type=click.Path(path_type=Path), default=None,
              help="A separate validation folder with the same class subfolders, instead of a split.")
@click.option("--resume", is_flag=True, help="Continue the run in OUT from its checkpoint.")
@click.option("--force", is_flag=True, help="Start over in an OUT that already holds a run: its checkpoint is dropped at once, its model "
                   "and card are replaced when the new run ends.")
@click.option("--learning-rate", type=float, default=None,
              help=f"Peak AdamW learning rate  [default: {SCRATCH_LEARNING_RATE:g}, or {INIT_LEARNING_RATE:g} with --init]")
@click.option("--weight-decay", type=float, default=DEFAULTS.weight_decay, help="AdamW decoupled weight decay.")
@click.option("--warmup-epochs", type=click.IntRange(min=0), default=DEFAULTS.warmup_epochs,
              help="Linear warm-up epochs before cosine decay, capped at a third of --epochs (rounded down) "
                   "so short runs reach the peak rate.")
@click.option("--label-smoothing", type=click.FloatRange(0, 0.5), default=DEFAULTS.label_smoothing,
              help="Label smoothing of the cross-entropy (binary for 2 classes, categorical for more).")
@click.option("--patience", type=click.IntRange(min=1), default=None,
              help="Stop after this many epochs without a better one (higher val accuracy, or the same with a "
                   "lower val loss); the best is kept  [default: half of --epochs, at least 5]")
@click.option("--augment/--no-augment", default=DEFAULTS.augment, help="Random flip, zoom, shear, rotation, shift, colour.")
@click.option("--cache-scale", type=click.FloatRange(min=1.0), default=DEFAULTS.cache_scale,
              help="Decode and cache the training photos at this multiple of --image-size (validation always "
                   "decodes at --image-size, as the runtime does); augmentation samples them down to "
                   "--image-size, so a larger cache gives sharper crops.")
@click.option("--crop-area", type=click.FloatRange(0, 1, max_open=True), default=DEFAULTS.crop_area,
              help="With augmentation, draw random-resized crops covering this to 100% of each photo's area "
                   "(aspect 3:4 to 4:3) instead of the zoom and shift warp; 0 keeps the warp.")
@click.option("--antialias/--no-antialias", default=DEFAULTS.antialias,
              help="With a --cache-scale above 1, sample each augmented crop at the cache's resolution and shrink "
                   "it to --image-size with an antialiasing filter, as the runtime shrinks photos, instead of "
                   "sampling it straight at --image-size (sharper than the runtime's images).")
@click.option("--mixup", type=click.FloatRange(min=0), default=DEFAULTS.mixup,
              help="With augmentation, blend each batch with itself reversed (mixup), images and targets, by a "
                   "Beta(A, A) weight; A is this value, 0 turns it off (0.2 is the usual choice).")
@click.option("--ema/--no-ema", default=DEFAULTS.ema,
              help="Keep an exponential moving average of the weights; validate and save it.")
@click.option("--ema-momentum", type=click.FloatRange(0, 1, max_open=True), default=DEFAULTS.ema_momentum,
              help="Momentum of the weight average, per optimizer step (with --ema).")
@click.option("--teacher", type=click.Path(path_type=Path), multiple=True,
              help="Distil from this model.keras (an earlier catdog-train run on the same classes, at any "
                   "--image-size): it sees the same crops at its own size. Repeat it to distil from the "
                   "ensemble: the mean of the teachers' probabilities.")
@click.option("--distill-weight", type=click.FloatRange(0, 1), default=DEFAULTS.distill_weight,
              help="Share of the training targets taken from the teachers' probabilities.")
@click.option("--swa-epochs", type=click.IntRange(min=0), default=DEFAULTS.swa_epochs,
              help="Stochastic weight averaging: hold the learning rate at --swa-learning-rate for the last N "
                   "epochs and save the mean of their weights (batch-norm statistics recomputed); 0 is off.")
@click.option("--swa-learning-rate", type=click.FloatRange(min=0), default=DEFAULTS.swa_learning_rate,
              help="The constant learning rate of the averaged epochs (with --swa-epochs); the cosine decays to it.")
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multiworker"]), default=DEFAULTS.strategy,
              help="tf.distribute strategy: one device, all local GPUs, or workers from TF_CONFIG.")
@click.option("--cache", type=click.Choice(["memory", "disk"]), default=DEFAULTS.cache,
              help="Keep decoded images (at --image-size) in memory, or memory-mapped on disk for large datasets.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where --cache disk keeps its files  [default: OUT/cache]")
@click.option("--verbose", is_flag=True, help=VERBOSE_HELP)
def main(verbose: bool, **options) -> None:
    """Train the MiniResNet image classifier on class-named folders of photos."""
    from catdog.quiet import configure_logging

    configure_logging(verbose=verbose)
    config = TrainConfig(**options)
    command = invoked_command()
    # Training's results are files; everything it prints, Keras's progress bars included, is
    # progress, and progress goes to stderr like every catdog command's.
    with exit_on_error(), contextlib.redirect_stdout(sys.stderr):
        from catdog.train.fit import train

        train(config, command=command, verbose=verbose)


if __name__ == "__main__":
    main()
