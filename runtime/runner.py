"""What `catdog-run` does: expand the sources, load the model once, classify everything, summarise.

With `out`, records go to a results file the job owns (`catdog.runtime.results`): resumable
after a kill, never replaced silently. With `ray`, the same job runs as a Ray Data pipeline
(`catdog.runtime.ray`).
"""

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

# A file job's --out is fsync'ed at most this often (a power cut loses at most this much, which --resume
# redoes); fsync after every record would cost more than classifying at thousands of photos a second.
FILE_JOB_SYNC_SECONDS = 1.0


@dataclass(frozen=True)
class RunConfig:
    """The options of `catdog-run`, one field per flag."""

    sources: tuple[str, ...] = ()
    model: Path | None = None
    camera: int | str | None = None  # an OpenCV camera index, or "picam:N"
    output_format: str | None = None  # None: text on stdout, or what --out's suffix names
    threads: int | None = None
    batch_size: int = 32
    max_frames: int | None = None
    every: int = 1
    top_k: int = 1
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    verbose: bool = False
    save: Path | None = None
    out: Path | None = None  # a results file (.jsonl or .csv); with `ray`, a folder of JSON Lines files
    resume: bool = False  # skip the sources `out` already holds
    retry_errors: bool = False  # with resume: classify again the sources whose records are errors
    append: bool = False  # add to an existing `out` without skipping (live sources)
    force: bool = False  # replace an existing `out`
    ray: str | None = None  # run on Ray Data: "local", "auto" or a cluster address
    actors: int | None = None  # Ray: model replicas (map_batches concurrency); None: one per CPU


def results_mode(config: RunConfig) -> str:
    """Which of `catdog.runtime.results.MODES` the flags ask for; CatdogError when they conflict."""
    chosen = [name for name, on in (("resume", config.resume), ("append", config.append), ("force", config.force))
              if on]
    if chosen and config.out is None:
        raise CatdogError(f"--{chosen[0]} needs --out FILE (the results file to {chosen[0]})")
    if len(chosen) > 1:
        raise CatdogError(f"--{chosen[0]} and --{chosen[1]} cannot be combined: pick one")
    if config.retry_errors and not config.resume:
        raise CatdogError("--retry-errors needs --resume")
    return chosen[0] if chosen else "new"


def keep_undone(inputs: list[Input], results, summary: RunSummary) -> list[Input]:
    """The inputs a results file still lacks, each once; count the ones it holds as done."""
    from catdog.runtime.results import record_key

    kept, seen = [], set()
    for item in inputs:
        if isinstance(item, Stream):
            kept.append(item)
            continue
        key = record_key(str(item), output_format=results.output_format)
        if key in seen:
            continue  # a file named twice is classified once: one record per source
        seen.add(key)
        if key in results.done:
            summary.done += 1
        else:
            kept.append(item)
    return kept


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
    mode = results_mode(config)
    if config.ray is not None:
        from catdog.runtime.ray import run_on_ray

        return run_on_ray(config, err=err)
    output_format = config.output_format or "text"
    if config.out is not None:
        from catdog.runtime.results import results_format

        output_format = results_format(config.out, output_format=config.output_format)
    found = find_inputs(list(config.sources), camera=config.camera)
    inputs = found.inputs
    if mode == "resume" and any(isinstance(item, Stream) for item in inputs):
        raise CatdogError("--resume finishes jobs over image files; videos, URLs and cameras have no end to "
                          "resume from: use --append to add their records to --out")
    choice = None if config.model is not None else choose_default_model()  # --model always wins
    if choice is not None and config.verbose:
        print(f"model: {choice.reason}", file=err, flush=True)
    engine = open_engine(config.model if choice is None else choice.path, threads=config.threads)
    if engine.spec_warning:
        print(f"warning: {engine.spec_warning}", file=err, flush=True)
    if config.top_k > engine.spec.num_classes:
        raise CatdogError(f"--top-k {config.top_k} is more than the model's {engine.spec.num_classes} labels "
                          f"({', '.join(engine.labels)}): use --top-k {engine.spec.num_classes} or less")
    summary = RunSummary(skipped=len(found.skipped), skipped_named=config.verbose,
                         model_note=None if choice is None else choice.describe(verbose=config.verbose))
    results = None
    if config.out is not None:
        from catdog.runtime.results import open_results

        results = open_results(config.out, output_format=output_format, labels=engine.labels, mode=mode,
                               retry_errors=config.retry_errors)
        out = results.stream
        inputs = keep_undone(inputs, results, summary)
        if config.verbose and results.repaired:
            print(f"{config.out}: cut off a record a kill left half-written; its source runs again", file=err)
    only_files = not any(isinstance(item, Stream) for item in inputs)
    writer = PredictionWriter(out, output_format=output_format, labels=engine.labels, top_k=config.top_k,
                              header=results is None or results.needs_header,
                              sync_seconds=None if results is None else FILE_JOB_SYNC_SECONDS if only_files else 0.0)
    if config.verbose:
        for path, reason in found.skipped:
            print(f"skipped {path}: {reason}", file=err)
    saver = None
    if config.save is not None:
        from catdog.runtime.annotate import AnnotationSaver  # Pillow's drawing modules only when asked

        saver = AnnotationSaver(config.save, every=config.every)
    started = time.perf_counter()
    predictions = iter_predictions(engine, inputs, config, saver=saver)
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
        if results is not None:
            results.close()
    summary.seconds = time.perf_counter() - started
    print(summary.describe(), file=err, flush=True)
    return summary
