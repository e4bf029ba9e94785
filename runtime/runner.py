"""What `catdog-run` does: expand the sources, load the model once, classify everything, summarise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

from catdog.errors import CatdogError
from catdog.runtime.classifier import Prediction
from catdog.runtime.output import PredictionWriter, RunSummary
from catdog.runtime.sources import Input, Stream, expand_sources


@dataclass(frozen=True)
class RunConfig:
    """The options of `catdog-run`, one field per flag."""

    sources: tuple[str, ...] = ()
    model: Path | None = None
    camera: int | None = None
    output_format: str = "text"
    threads: int | None = None
    batch_size: int = 32
    max_frames: int | None = None
    every: int = 1
    save: Path | None = None


def iter_predictions(engine, inputs: list[Input], config: RunConfig, *, saver=None) -> Iterator[Prediction]:
    """Classify inputs in order: consecutive files share decode pool and batches, streams go frame by frame."""
    from catdog.runtime.pipeline import classify_files, classify_stream

    index = 0
    while index < len(inputs):
        if isinstance(inputs[index], Stream):
            tap = saver.tap(inputs[index].name) if saver is not None else None  # --save records the frames
            yield from classify_stream(engine, inputs[index], every=config.every, max_frames=config.max_frames, tap=tap)
            index += 1
            continue
        end = index
        while end < len(inputs) and not isinstance(inputs[end], Stream):
            end += 1
        yield from classify_files(engine, inputs[index:end], batch_size=config.batch_size)
        index = end


def show_progress(predictions: Iterator[Prediction], *, total: int, stream: TextIO) -> Iterator[Prediction]:
    """Wrap predictions in a progress bar on stderr, when stderr is a terminal and output goes elsewhere."""
    import click

    with click.progressbar(length=total, label="classifying", file=stream) as bar:
        for prediction in predictions:
            bar.update(1)
            yield prediction


def run(config: RunConfig, *, out: TextIO | None = None, err: TextIO | None = None) -> RunSummary:
    """Classify every source and write one record per input to `out`; return the summary.

    Raises CatdogError for usage errors (no sources, unusable model, camera that cannot open).
    """
    from catdog.runtime.engine import open_engine
    from catdog.runtime.models import default_model_path

    out = out or sys.stdout
    err = err or sys.stderr
    if not config.sources and config.camera is None:
        raise CatdogError("nothing to classify: give image files, folders, globs, videos or URLs, or --camera N")
    inputs = expand_sources(list(config.sources), camera=config.camera)
    engine = open_engine(config.model if config.model is not None else default_model_path(), threads=config.threads)
    writer = PredictionWriter(out, output_format=config.output_format)
    summary = RunSummary()
    saver = None
    if config.save is not None:
        from catdog.runtime.annotate import AnnotationSaver  # Pillow's drawing modules only when asked

        saver = AnnotationSaver(config.save, every=config.every)
    started = time.perf_counter()
    predictions = iter_predictions(engine, inputs, config, saver=saver)
    only_files = not any(isinstance(item, Stream) for item in inputs)
    if only_files and len(inputs) > 200 and err.isatty() and not out.isatty():
        predictions = show_progress(predictions, total=len(inputs), stream=err)
    try:
        for prediction in predictions:
            writer.write(prediction)
            summary.add(prediction)
            if saver is not None:
                saver.add(prediction)
    except KeyboardInterrupt:
        # Ctrl-C still gets the summary, after every finished result has been written.
        summary.interrupted = True
        summary.seconds = time.perf_counter() - started
        print(summary.describe(), file=err, flush=True)
        raise
    finally:
        for line in saver.close() if saver is not None else ():
            print(line, file=err, flush=True)
    summary.seconds = time.perf_counter() - started
    print(summary.describe(), file=err, flush=True)
    return summary
