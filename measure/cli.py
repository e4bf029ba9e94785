"""`catdog-bench`: time every shipped model (or the ones named) side by side with the Keras baseline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from catdog.clikit import OneLineCommand

from catdog.measure.config import DEFAULT_MIN_RUNS, DEFAULT_MIN_SECONDS, BenchConfig
from catdog.errors import exit_on_error

PROGRESS_STEPS = 1000


class ClickProgress:
    """Stage lines and a progress bar on stderr, so stdout holds only the table."""

    def __init__(self) -> None:
        self.bar = None
        self.done = 0

    def stage(self, text: str) -> None:
        """Finish the previous bar and remember the new stage's label."""
        self.finish()
        click.echo(text, err=True)

    def advance(self, fraction: float) -> None:
        """Move the bar to `fraction` of the current timing stage."""
        if self.bar is None:
            self.bar = click.progressbar(length=PROGRESS_STEPS, label="  timing", file=sys.stderr)
            self.bar.__enter__()
            self.done = 0
        target = int(fraction * PROGRESS_STEPS)
        if target > self.done:
            self.bar.update(target - self.done)
            self.done = target

    def finish(self) -> None:
        """Close the bar, if one is open."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command(cls=OneLineCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("models", nargs=-1, metavar="[MODEL]...", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--baseline", type=click.Path(exists=True, path_type=Path), default=None, show_default=True,
              help="Keras model to compare against (.keras, .h5 or a SavedModel folder). Default: the model each file was exported from "
                   "(its metadata's source_model, checked by SHA-256), else the shipped catdog.keras with a warning.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None, show_default=True,
              help="Folder with one subfolder of images per label, for accuracy and agreement.")
@click.option("--runs", type=click.IntRange(min=1), default=None, show_default=True,
              help=f"Exact batch-1 runs per model. Default: at least {DEFAULT_MIN_RUNS} runs "
                   f"and {DEFAULT_MIN_SECONDS:g} s per model.")
@click.option("--warmup", type=click.IntRange(min=0), default=20, show_default=True,
              help="Untimed runs per model before timing.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Inference threads for every engine (and TensorFlow).")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="Batch size for the throughput column and for accuracy.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, show_default=True,
              help="Write the rows as JSON: one object per model with the table's values and the machine.")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), default=None, show_default=True,
              help="Write the table as a Markdown page.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None, show_default=True,
              help="Write a latency-vs-accuracy PNG, each point labelled with model and precision "
                   "(needs --data and matplotlib).")
@click.option("--verbose", is_flag=True, default=False, help="Show library logs (TensorFlow, LiteRT, FFmpeg) too.")
def main(models: tuple[Path, ...], baseline: Optional[Path], data: Optional[Path], runs: Optional[int],
         warmup: int, threads: int, batch: int, json_path: Optional[Path], markdown: Optional[Path],
         plot: Optional[Path], verbose: bool) -> None:
    """Benchmark MODEL files (default: every shipped model) against the Keras baseline.

    Prints one row per model: size, load and first-inference time, batch-1 latency
    percentiles, throughput, peak RSS, speed-up over Keras and, with --data, accuracy and
    agreement with the Keras model over the model's labels.
    """
    from catdog.quiet import configure_logging

    configure_logging(verbose=verbose)
    from catdog.measure.report import run_and_report

    config = BenchConfig(models=models, baseline=baseline, data=data, runs=runs, warmup=warmup, threads=threads,
                         batch=batch, json=json_path, markdown=markdown, plot=plot)
    progress = ClickProgress()
    with exit_on_error():
        try:
            table = run_and_report(config, progress=progress)
        finally:
            progress.finish()
    click.echo(table)


if __name__ == "__main__":
    main()
