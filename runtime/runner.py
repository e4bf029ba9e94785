"""What `catdog-run` does: expand the sources, load the model once, classify everything, summarise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

from catdog.errors import CatdogError
from catdog.runtime.prediction import Prediction
from catdog.runtime.output import PredictionWriter, RunSummary
from catdog.runtime.live_capture import DEFAULT_STREAM_TIMEOUT
from catdog.runtime.preprocess import DEFAULT_MAX_PIXELS
from catdog.runtime.sources import Input, Stream, find_inputs


@dataclass(frozen=True)
class RunConfig:
    """The options of `catdog-run`, one field per flag."""

    sources: tuple[str, ...] = ()
    model: Path | None = None
    camera: int | str | None = None  # an OpenCV camera index, or "picam:N"
    output_format: str = "text"
    threads: int | None = None
    batch_size: int = 32
    max_frames: int | None = None
    every: int = 1
    top_k: int = 1
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    verbose: bool = False
    save: Path | None = None


def iter_predictions(engine, inputs: list[Input], config: RunConfig, *, saver=None) -> Iterator[Prediction]:
    """Classify inputs in order: consecutive files share decode pool and batches, streams go frame by frame."""
    from catdog.runtime.pipeline import classify_files, classify_stream

    index = 0
    while index < len(inputs):
        if isinstance(inputs[index], Stream):
            tap = saver.tap(inputs[index].name) if saver is not None else None  # --save records the frames
            yield from classify_stream(engine, inputs[index], every=config.every, max_frames=config.max_frames,
                                       stream_timeout=config.stream_timeout, tap=tap)
            index += 1
            continue
        end = index
        while end < len(inputs) and not isinstance(inputs[end], Stream):
            end += 1
        yield from classify_files(engine, inputs[index:end], batch_size=config.batch_size, max_pixels=config.max_pixels)
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

    Raises CatdogError for usage errors (no sources, unusable model, --top-k above the model's
    number of labels, camera that cannot open). A model without catdog metadata gets one
    warning line on `err`.
    """
    from catdog.runtime.engine import open_engine
    from catdog.runtime.models import choose_default_model

    out = out or sys.stdout
    err = err or sys.stderr
    if not config.sources and config.camera is None:
        raise CatdogError("nothing to classify: give image files, folders, globs, videos or URLs, or --camera N")
    found = find_inputs(list(config.sources), camera=config.camera)
    inputs = found.inputs
    choice = None if config.model is not None else choose_default_model()  # --model always wins
    if choice is not None and config.verbose:
        print(f"model: {choice.reason}", file=err, flush=True)
    engine = open_engine(config.model if choice is None else choice.path, threads=config.threads)
    if engine.spec_warning:
        print(f"warning: {engine.spec_warning}", file=err, flush=True)
    if config.top_k > engine.spec.num_classes:
        raise CatdogError(f"--top-k {config.top_k} is more than the model's {engine.spec.num_classes} labels "
                          f"({', '.join(engine.labels)}): use --top-k {engine.spec.num_classes} or less")
    writer = PredictionWriter(out, output_format=config.output_format, labels=engine.labels, top_k=config.top_k)
    summary = RunSummary(skipped=len(found.skipped), skipped_named=config.verbose,
                         model_note=None if choice is None else choice.describe())
    if config.verbose:
        for path, reason in found.skipped:
            print(f"skipped {path}: {reason}", file=err)
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
        # Close the generators now, not when the traceback is freed: on Ctrl-C or SIGTERM this
        # stops the reader thread and closes the camera (picam.close()) before the command exits.
        predictions.close()
        for line in saver.close() if saver is not None else ():
            print(line, file=err, flush=True)
    summary.seconds = time.perf_counter() - started
    print(summary.describe(), file=err, flush=True)
    return summary
