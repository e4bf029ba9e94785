"""`run_benchmark`: cold starts, interleaved batch-1 latency, throughput and accuracy per model."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from catdog.runtime.prediction import decide
from catdog.measure.accuracy import (compute_accuracy, compute_agreement, list_labelled_images, load_images,
                                   match_classes, predict_in_batches)
from catdog.measure.coldstart import measure_cold_start
from catdog.measure.config import BenchConfig
from catdog.measure.per_class import per_class_results
from catdog.measure.keras_baseline import (KerasBaseline, describe_source, find_source_model, head_from_metadata,
                                         load_keras_baseline)
from catdog.measure.machine import describe_machine
from catdog.measure.progress import Progress, SilentProgress
from catdog.measure.timing import run_interleaved, summarize
from catdog.errors import CatdogError, MissingExtraError
from catdog.export.loaders import source_sha256
from catdog.runtime.spec import ModelSpec

KERAS_WAYS = ("predict", "compiled")


@dataclass
class BenchResult:
    """The rows (one per model, plus Keras predict and compiled), the machine and one-line notes."""

    rows: list[dict[str, Any]]
    machine: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class Contestant:
    """One timed row: how to call it at batch 1 and at --batch, and how to get probabilities."""

    name: str
    row: dict[str, Any]
    one: Callable[[], object]
    many: Callable[[], object]
    probabilities: Callable[[np.ndarray], np.ndarray]  # (N, H, W, 3) uint8 -> (N, K) float32
    spec: ModelSpec
    metadata: dict[str, Any] = field(default_factory=dict)  # the exported file's catdog metadata
    spec_warning: Optional[str] = None  # set when the file carried no spec (labels class_0..)


def resolve_models(config: BenchConfig) -> list[Path]:
    """Return the models to time: the given paths, or every shipped TFLite and ONNX model."""
    from catdog.runtime.models import MODELS_DIR, shipped_models

    models = list(config.models) or [path for path in shipped_models() if path.suffix != ".keras"]
    if not models:
        raise CatdogError(f"no MODEL given and no shipped models in {MODELS_DIR}: pass model paths")
    for path in models:
        if not Path(path).is_file():
            raise CatdogError(f"model not found: {path}")
    return [Path(path) for path in models]


def choose_baseline_path(config: BenchConfig, contestants: list[Contestant], notes: list[str]) -> Optional[Path]:
    """Pick the Keras baseline: --baseline, else the model the files came from, else the shipped one.

    The files' own source is found from their metadata (`find_source_model`: path and
    SHA-256). An explicit --baseline is used as given, with a note when it is not the model
    the files name. The shipped fallback gets one warning note saying it is a different model.
    """
    from catdog.runtime.models import keras_baseline_path

    sources = {contestant.name: describe_source(contestant.metadata) for contestant in contestants}
    if config.baseline:
        path = Path(config.baseline)
        if not path.exists():
            raise CatdogError(f"--baseline not found: {path}")
        hashes = {sha256 for _, sha256 in sources.values() if sha256}
        if hashes and source_sha256(path) not in hashes:
            notes.append(f"Note: --baseline {path.name} is not the Keras model the files were exported from "
                         "(its SHA-256 differs from their source_sha256).")
        return path
    found = [find_source_model(contestant.metadata, model_path=Path(contestant.row["path"]))
             for contestant in contestants]
    distinct = sorted({path.resolve() for path in found if path is not None})
    if distinct:
        if len(distinct) > 1:
            notes.append(f"Note: the files come from different Keras models; the baseline is {distinct[0].name}.")
        return distinct[0]
    shipped = keras_baseline_path()
    if not shipped.is_file():
        notes.append(f"Keras baseline: none ({shipped} not found; pass --baseline MODEL); no speed-ups.")
        return None
    named = sorted({source for source, _ in sources.values() if source})
    origin = f"the model they came from ({', '.join(named)}) was not found" if named else "they name no source model"
    notes.append(f"Warning: Keras baseline is the shipped {shipped.name}, a different model: {origin}; "
                 "pass --baseline MODEL to compare with the right one.")
    return shipped


def load_baseline(path: Optional[Path], *, config: BenchConfig, contestants: list[Contestant],
                  notes: list[str]) -> Optional[KerasBaseline]:
    """Load the Keras baseline at `path`, or add a one-line note saying why there is none.

    When `path` is the source the files record (same SHA-256), the baseline takes their spec
    (image size, labels) and the source's pixel range and head from their metadata, so it is
    fed and read exactly as export verification fed and read it.
    """
    if path is None:
        return None
    digest = source_sha256(path)
    spec, head = None, None
    for contestant in contestants:
        if contestant.metadata.get("source_sha256") == digest:
            head = head_from_metadata(contestant.metadata, spec=contestant.spec)
            spec = contestant.spec if head is not None else None
            if head is not None:
                break
    try:
        return load_keras_baseline(path, threads=config.threads, spec=spec, head=head)
    except (CatdogError, ValueError) as error:  # no TensorFlow, an unreadable model, an input size it cannot tell
        if config.baseline and not isinstance(error, MissingExtraError):
            raise CatdogError(f"--baseline {path}: {error}") from None
        notes.append(f"Keras baseline: skipped, {error}; no speed-ups.")
        return None


def open_contestant(model_path: Path, *, config: BenchConfig) -> Contestant:
    """Open an exported model and build its row and timing calls on preallocated inputs."""
    from catdog.runtime.engine import open_engine

    engine = open_engine(model_path, threads=config.threads)
    height, width = engine.spec.image_size
    rng = np.random.default_rng(0)
    one = rng.integers(0, 256, size=(1, height, width, 3), dtype=np.uint8)
    many = rng.integers(0, 256, size=(config.batch, height, width, 3), dtype=np.uint8)
    row = {"model": model_path.name, "path": str(model_path), "format": engine.format,
           "precision": engine.precision, "size_bytes": model_path.stat().st_size, "engine": engine.describe()}
    return Contestant(name=model_path.name, row=row, one=partial(engine.predict, one),
                      many=partial(engine.predict, many), probabilities=engine.predict,
                      spec=engine.spec, metadata=dict(engine.metadata), spec_warning=engine.spec_warning)


def build_keras_contestants(baseline: KerasBaseline, *, config: BenchConfig) -> list[Contestant]:
    """Build the two Keras rows: `model.predict` and the compiled `tf.function` call."""
    calls = baseline.timing_calls(batch=config.batch)
    path = baseline.path
    size = sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) if path.is_dir() else path.stat().st_size
    contestants = []
    for way in (way for way in KERAS_WAYS if way in calls):
        name = f"{baseline.path.name} ({way})"
        row = {"model": name, "path": str(baseline.path), "format": "keras", "precision": "fp32",
               "size_bytes": size,
               "engine": {"engine": f"keras {way}", **baseline.versions, "threads": config.threads}}
        contestants.append(Contestant(name=name, row=row, one=calls[way]["one"], many=calls[way]["batch"],
                                      probabilities=partial(baseline.probabilities, batch=config.batch),
                                      spec=baseline.spec))
    return contestants


def add_cold_starts(contestants: list[Contestant], baseline: Optional[KerasBaseline], *,
                    config: BenchConfig, progress: Progress) -> None:
    """Measure load, first inference and peak RSS of every row in its own child process."""
    keras_result: Optional[dict[str, Any]] = None
    for contestant in contestants:
        progress.stage(f"cold start: {contestant.name}")
        if contestant.row["format"] == "keras" and baseline is not None:
            if keras_result is None:
                keras_result = measure_cold_start("keras", baseline.path, threads=config.threads, batch=config.batch)
            result = dict(keras_result)
            compiled_first_ms = result.pop("compiled_first_inference_ms", None)
            if contestant.name.endswith("(compiled)"):
                result["first_inference_ms"] = compiled_first_ms
        else:
            result = measure_cold_start("engine", Path(contestant.row["path"]), threads=config.threads,
                                        batch=config.batch)
        contestant.row.update(result)


def time_contestants(contestants: list[Contestant], *, config: BenchConfig, progress: Progress) -> bool:
    """Fill latency and throughput for every row; return True if Ctrl-C cut the timing short."""
    progress.stage(f"latency at batch 1 ({len(contestants)} models interleaved)")
    latency, interrupted = run_interleaved({c.name: c.one for c in contestants}, warmup=config.warmup,
                                           min_runs=config.min_runs, min_seconds=config.min_seconds,
                                           on_progress=progress.advance)
    for contestant in contestants:
        samples = latency.get(contestant.name)
        if samples is not None:
            contestant.row.update(latency_ms=summarize(samples), runs=int(samples.size))
    if interrupted:
        return True
    progress.stage(f"throughput at batch {config.batch}")
    batches, interrupted = run_interleaved({c.name: c.many for c in contestants}, warmup=min(config.warmup, 2),
                                           min_runs=config.batch_runs, min_seconds=config.batch_seconds,
                                           on_progress=progress.advance)
    for contestant in contestants:
        samples = batches.get(contestant.name)
        if samples is not None:
            contestant.row.update(throughput_ips=config.batch / float(samples.mean()), batch=config.batch)
    return interrupted


def add_floors_and_folder_throughput(contestants: list[Contestant], *, config: BenchConfig, progress: Progress) -> None:
    """Add the engine's own floor (litert-benchmark's median, TFLite rows only) and the throughput at
    the batch size `catdog-run` uses for folders (exported rows only); see `catdog.measure.floor`."""
    from catdog.measure.floor import add_engine_floors, add_folder_throughput, folder_batch_size

    progress.stage("engine floor: litert-benchmark on each .tflite file")
    add_engine_floors([contestant.row for contestant in contestants], threads=config.threads,
                      runs=config.runs if config.runs is not None else 2000)
    progress.stage(f"throughput at the folder batch size ({folder_batch_size()})")
    add_folder_throughput(contestants, min_seconds=config.batch_seconds)


def check_data_classes(contestants: list[Contestant], *, config: BenchConfig) -> None:
    """Refuse, before any timing, a --data folder whose classes no model's labels can match."""
    _, _, class_names = list_labelled_images(config.data)
    for contestant in contestants:
        match_classes(class_names, contestant.spec.labels, model=contestant.name)


def add_accuracy(contestants: list[Contestant], *, config: BenchConfig, progress: Progress) -> None:
    """Fill K-class accuracy on --data and label agreement with the Keras baseline (when there is one)."""
    paths, classes, class_names = list_labelled_images(config.data)
    decoded: dict[ModelSpec, np.ndarray] = {}
    probabilities: dict[str, np.ndarray] = {}
    for contestant in contestants:
        progress.stage(f"accuracy on {len(paths)} images: {contestant.name}")
        if contestant.spec not in decoded:
            decoded[contestant.spec] = load_images(paths, spec=contestant.spec)
        images = decoded[contestant.spec]
        probabilities[contestant.name] = predict_in_batches(contestant.probabilities, images, batch=config.batch)
    baseline = next((values for name, values in probabilities.items() if name.endswith("(compiled)")), None)
    for contestant in contestants:
        values = probabilities[contestant.name]
        targets = match_classes(class_names, contestant.spec.labels, model=contestant.name)[classes]
        contestant.row.update(accuracy=compute_accuracy(values, targets), agreement=compute_agreement(values, baseline),
                              images=len(paths),
                              per_class=per_class_results(targets, decide(values), labels=contestant.spec.labels))


def add_speedups(rows: list[dict[str, Any]]) -> None:
    """Set speedup_vs_keras: the Keras row's p50 divided by this row's p50 (None without Keras)."""
    references = {way: next(((row.get("latency_ms") or {}).get("p50") for row in rows
                             if row["model"].endswith(f"({way})")), None)
                  for way in KERAS_WAYS}
    for row in rows:
        p50 = (row.get("latency_ms") or {}).get("p50")
        row["speedup_vs_keras"] = {way: (reference / p50 if reference and p50 else None)
                                   for way, reference in references.items()}


def run_benchmark(config: BenchConfig, *, progress: Optional[Progress] = None) -> BenchResult:
    """Benchmark the models of `config` against the Keras baseline and return one row per model."""
    progress = progress or SilentProgress()
    models = resolve_models(config)
    if config.data is not None:
        list_labelled_images(config.data)  # fail on a bad --data before minutes of timing
    notes: list[str] = []
    progress.stage("loading models")
    engines = [open_contestant(path, config=config) for path in models]
    notes += [f"Warning: {contestant.spec_warning}" for contestant in engines if contestant.spec_warning]
    baseline = load_baseline(choose_baseline_path(config, engines, notes), config=config, contestants=engines,
                             notes=notes)
    contestants = list(engines)
    if baseline is not None:
        contestants += build_keras_contestants(baseline, config=config)
    if config.data is not None:
        check_data_classes(contestants, config=config)
    add_cold_starts(contestants, baseline, config=config, progress=progress)
    machine = describe_machine(threads=config.threads)
    machine["bare_child_rss_bytes"] = measure_cold_start("bare", threads=config.threads,
                                                         batch=config.batch)["peak_rss_bytes"]
    interrupted = time_contestants(contestants, config=config, progress=progress)
    if not interrupted:
        add_floors_and_folder_throughput(contestants, config=config, progress=progress)
        notes += list(dict.fromkeys(c.row["engine_floor_note"] for c in contestants if c.row.get("engine_floor_note")))
    if interrupted:
        notes.append("Interrupted: timing stopped early; the rows show the runs collected so far.")
    elif config.data is not None:
        add_accuracy(contestants, config=config, progress=progress)
    rows = [contestant.row for contestant in contestants]
    for row in rows:
        for key in ("latency_ms", "throughput_ips", "accuracy", "agreement"):
            row.setdefault(key, None)
    add_speedups(rows)
    return BenchResult(rows=rows, machine=machine, notes=notes)
