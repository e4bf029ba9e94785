"""Batch classification on Ray Data: a callable class for `Dataset.map_batches`, and `catdog-run --ray`.

The pipeline a user writes is plain Ray Data; catdog only supplies the per-batch step:

    import ray
    from catdog.runtime.ray import BatchClassifier

    ray.data.read_binary_files("photos/", include_paths=True) \\
        .map_batches(BatchClassifier, fn_constructor_kwargs={"model": "model.tflite"},
                     concurrency=4, batch_size=32) \\
        .write_json("results/")

`BatchClassifier` loads the model once per actor with the runtime's one engine for its format
(`catdog.runtime.engine.open_engine`), decodes each file's bytes with the runtime's one
decoder (`catdog.runtime.preprocess.load_image`: the same JPEG scaling, EXIF rotation and
resize as `catdog-run`), batches with the CLI's own step (`catdog.runtime.pipeline.flush_batch`)
and returns the CLI's JSON record fields (`catdog.runtime.output.json_record`) as columns:
source, label, probabilities, error, latency_ms. A file that cannot be decoded is an error row;
it never fails the job. Ray is imported inside functions only: `import catdog.runtime` never
loads it, and without the `[ray]` extra every entry point raises one line naming the pip command.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from catdog.errors import CatdogError, MissingExtraError
from catdog.runtime.preprocess import DEFAULT_MAX_PIXELS

IN_MEMORY_FILE = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")
RECORD_COLUMNS = ("source", "label", "probabilities", "error", "latency_ms")
CONNECT_TIMEOUT = 10.0  # seconds to reach a cluster's address before saying it is unreachable
GCS_RETRIES = 8  # then ~1 s attempts to talk to its GCS: with start-up, one line well within 30 s
# Ray's CPU reservations (for scheduling, not limits): an actor decodes and infers, about one core;
# reading and writing files mostly wait on storage. N actors on N CPUs then leave room for the
# read and write tasks; with a whole CPU per actor those tasks would wait for ever.
ACTOR_CPUS = 0.75
IO_CPUS = 0.25
FILES_PER_BLOCK = 1000


def require_ray():
    """Import and return Ray with Ray Data, or raise one line naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - needs pyarrow and pandas, which ray[data] brings
    except ImportError as error:
        raise MissingExtraError(f"Ray Data is not installed ({error}): pip install 'catdog[ray]'") from None
    return ray


class BatchClassifier:
    """A `map_batches` callable: one engine per actor, one record row per input row.

    `model`: a model file path (default: the shipped int8 TFLite), or its bytes with
    `model_suffix` (".tflite", ".onnx"), so a cluster's workers need no copy of the file.
    Input rows hold `bytes` and `path` (`read_binary_files(..., include_paths=True)`), only a
    `path` (`from_items` of paths the actors can open: the actor reads the file, as catdog-run
    does), or an `image` array (`read_images`; Ray then decodes, without catdog's JPEG scaling
    and EXIF rotation).
    """

    def __init__(self, model: str | os.PathLike | bytes | None = None, *, model_suffix: str | None = None,
                 threads: int | None = 1, max_pixels: int | None = DEFAULT_MAX_PIXELS):
        from catdog.runtime.engine import open_engine
        from catdog.runtime.models import default_model_path

        if isinstance(model, (bytes, bytearray)):
            if not model_suffix:
                raise ValueError("model given as bytes needs model_suffix, e.g. '.tflite'")
            folder = tempfile.mkdtemp(prefix="catdog-model-")
            path = Path(folder) / f"model{model_suffix}"
            path.write_bytes(bytes(model))
        else:
            path = Path(model) if model is not None else default_model_path()
        self.engine = open_engine(path, threads=threads)
        self.max_pixels = max_pixels

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        from catdog.runtime.output import json_record
        from catdog.runtime.pipeline import flush_batch
        from catdog.runtime.preprocess import load_image

        started = time.perf_counter()
        paths = [None if path is None else str(path) for path in batch["path"]] if "path" in batch else None
        images = batch.get("image", batch.get("bytes"))
        if images is None:  # rows of paths only: read each file here, as catdog-run does
            images = paths
        entries = []
        for source, image in zip(paths or [None] * len(images), images):
            try:
                if image is None:
                    raise CatdogError("no data")
                data = bytes(image) if isinstance(image, (bytearray, memoryview)) else image
                entries.append((source, load_image(data, spec=self.engine.spec, max_pixels=self.max_pixels),
                                None, started))
            except Exception as error:  # noqa: BLE001 - every unreadable file becomes one error row
                entries.append((source, None, error, started))
        records = [json_record(prediction) for prediction in flush_batch(self.engine, entries)]
        for record in records:
            if record.get("error") and record["source"] is not None:
                # Pillow names a file object by its repr: name the file as catdog-run's error does.
                record["error"] = IN_MEMORY_FILE.sub(lambda _, name=record["source"]: repr(name), record["error"])
        return {column: [record.get(column) for record in records] for column in RECORD_COLUMNS}


def check_reachable(address: str) -> None:
    """Fail in one line, within CONNECT_TIMEOUT, when HOST:PORT (or ray://HOST:PORT) takes no connection."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise CatdogError(f"--ray {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise CatdogError(f"cannot reach a Ray cluster at {address} ({error.strerror or error}): start one with "
                          "`ray start --head` or check the address") from None


def connect(address: str = "local", *, verbose: bool = False, num_cpus: int | None = None) -> bool:
    """Join Ray: an already-initialised session, a new local one ("local"), "auto" or an address.

    Returns True when this call started the session (so the caller shuts it down).
    Raises MissingExtraError without the extra and CatdogError (one line) when unreachable.
    """
    ray = require_ray()
    if not verbose:
        for name in ("ray", "ray.data"):  # start-up notices and Ray Data's execution log lines
            logging.getLogger(name).setLevel(logging.ERROR)
        ray.data.DataContext.get_current().enable_progress_bars = sys.stderr.isatty()
    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose,
                               "logging_level": logging.INFO if verbose else logging.ERROR}
    if address == "local":
        options["num_cpus"] = num_cpus
    else:
        if address != "auto":
            check_reachable(address)
        options["address"] = address
    # Ray retries a cluster's GCS about once a second for ~20 s; a user's own budget is kept.
    budget = None if address == "local" or "RAY_gcs_server_port_wait_time_s" in os.environ else str(GCS_RETRIES)
    if budget:
        os.environ["RAY_gcs_server_port_wait_time_s"] = budget
    try:
        ray.init(**options)
    except Exception as error:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: one line for all
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CatdogError(f"cannot join Ray at {address} ({message}): start a cluster with `ray start --head`, "
                          "or run --ray without an address for a local one") from None
    finally:
        if budget:
            del os.environ["RAY_gcs_server_port_wait_time_s"]
    return True


def split_sources(sources: list[str]) -> tuple[list[str], list[dict], int]:
    """Local sources through the one file lister; object-store URIs (s3://...) passed to Ray as they are.

    Returns (paths for read_binary_files, error rows for missing files and empty folders,
    files the folder walk skipped).
    """
    from catdog.runtime.output import json_record
    from catdog.runtime.prediction import make_error
    from catdog.runtime.sources import NothingFound, Stream, find_inputs
    from catdog.runtime.urls import is_stream_url, url_scheme

    paths, errors, skipped = [], [], 0
    local = []
    for source in sources:
        if url_scheme(source) and not is_stream_url(source) and url_scheme(source) != "file":
            paths.append(source)  # pyarrow's filesystems read s3://, gs://, abfs://, hdfs://
        else:
            local.append(source)
    found = find_inputs(local)
    skipped = len(found.skipped)
    for item in found.inputs:
        if isinstance(item, Stream):
            raise CatdogError(f"--ray classifies image files; {item.name} is a video or stream: run it without --ray")
        if isinstance(item, NothingFound):
            errors.append(json_record(make_error(CatdogError(item.reason), source=str(item))))
        elif not item.is_file():
            errors.append(json_record(make_error(FileNotFoundError(f"no such file: {item}"), source=str(item))))
        else:
            paths.append(str(item))
    return paths, [{column: row.get(column) for column in RECORD_COLUMNS} for row in errors], skipped


def check_folder(out: Path, *, force: bool) -> None:
    """A --ray --out folder must be new or empty, or --force (which replaces its .json files)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CatdogError(f"--ray writes a folder of JSON Lines files, and {out} is a file: pass --out FOLDER")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise CatdogError(f"{out} is not empty: pass --force to replace its .json files, or --out a new folder")


def prepare_folder(out: Path, *, force: bool) -> None:
    """Check the --out folder, remove the JSON files an earlier run wrote (--force), prove it writable."""
    from catdog.folders import ensure_writable

    check_folder(out, force=force)
    for path in sorted(Path(out).glob("*.json")) if Path(out).is_dir() else ():
        path.unlink()
    ensure_writable(Path(out))


def count_records(out: Path) -> tuple[int, int]:
    """(records, error records) in a folder of JSON Lines files, read back from what Ray wrote."""
    import json

    count = errors = 0
    for path in Path(out).glob("*.json"):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    count += 1
                    errors += json.loads(line).get("error") is not None
    return count, errors


def classify_on_ray(sources: list[str], *, out: Path, model: Path | None = None, actors: int | None = None,
                    batch_size: int = 32, threads: int | None = 1, max_pixels: int | None = DEFAULT_MAX_PIXELS,
                    ship_model: bool = True, read_bytes: bool = False) -> int:
    """Run read -> map_batches(BatchClassifier) -> write_json into `out`; return the skipped count.

    Needs a Ray session (`connect`). `actors` defaults to one per CPU of the cluster.
    `ship_model`: send the model's bytes to the actors (a cluster's nodes need no copy);
    False passes its path, which only a local Ray can open. Local files are rows of paths the
    actors read (`from_items`); object-store URIs, or every source with `read_bytes`, go
    through `read_binary_files`.
    """
    from catdog.runtime.files import IMAGE_SUFFIXES
    from catdog.runtime.models import default_model_path
    from catdog.runtime.urls import url_scheme

    ray = require_ray()
    paths, error_rows, skipped = split_sources(sources)
    if not paths and not error_rows:
        raise CatdogError("nothing to classify: give image files, folders or object-store URIs")
    model_path = Path(model) if model is not None else default_model_path()
    if not model_path.is_file():
        raise CatdogError(f"model not found: {model_path} (pass --model PATH, or omit it for the shipped model)")
    actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    remote = [path for path in paths if url_scheme(path)]
    if paths:
        # Blocks of FILES_PER_BLOCK files: each block is one read task, one series of actor calls
        # and one output file, so per-task costs stay small next to the work.
        blocks = min(max(actors * 2, -(-len(paths) // FILES_PER_BLOCK)), len(paths))
        if remote or read_bytes:
            # Ray lists object-store prefixes (image suffixes only) and reads every file's bytes.
            extensions = sorted({name for suffix in IMAGE_SUFFIXES for name in (suffix[1:], suffix[1:].upper())})
            dataset = ray.data.read_binary_files(paths, include_paths=True, num_cpus=IO_CPUS,
                                                 file_extensions=extensions if remote else None,
                                                 override_num_blocks=None if remote else blocks)
        else:
            # Local files, already listed by catdog's lister: rows of paths, each actor reads its files
            # (read_binary_files costs ~2 CPU ms more per small photo: benchmarks/job_throughput.py).
            dataset = ray.data.from_items([{"path": path} for path in paths], override_num_blocks=blocks)
        # compute=ActorPoolStrategy(size=N) is `concurrency=N` (deprecated in Ray 2.51), on every Ray >= 2.9.
        dataset = dataset.map_batches(
            BatchClassifier, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=ACTOR_CPUS,
            fn_constructor_kwargs={"model": model_path.read_bytes() if ship_model else str(model_path),
                                   "model_suffix": model_path.suffix, "threads": threads, "max_pixels": max_pixels})
        dataset.write_json(str(out), ray_remote_args={"num_cpus": IO_CPUS})
    if error_rows:
        ray.data.from_items(error_rows).write_json(str(out), ray_remote_args={"num_cpus": IO_CPUS})
    return skipped


def run_on_ray(config, *, err: TextIO | None = None):
    """`catdog-run --ray`: connect, classify into --out FOLDER, print and return the RunSummary."""
    from catdog.runtime.output import RunSummary

    err = err or sys.stderr
    if config.out is None:
        raise CatdogError("--ray needs --out FOLDER (where the JSON Lines files go)")
    if config.resume or config.append:
        raise CatdogError("--resume and --append are for single-process runs; a --ray job writes a new folder "
                          "(--force replaces its files)")
    if config.camera is not None:
        raise CatdogError("--ray classifies image files; run --camera without --ray")
    if config.output_format not in (None, "json"):
        raise CatdogError("--ray writes JSON Lines: drop --format")
    check_folder(config.out, force=config.force)  # usage errors first, then the extra, before Ray's slow start
    require_ray()
    started = time.perf_counter()
    owned = connect(config.ray, verbose=config.verbose)
    try:
        prepare_folder(config.out, force=config.force)
        skipped = classify_on_ray(list(config.sources), out=config.out, model=config.model, actors=config.actors,
                                  batch_size=config.batch_size, threads=config.threads or 1,
                                  max_pixels=config.max_pixels, ship_model=config.ray != "local")
    finally:
        if owned:
            require_ray().shutdown()
    summary = RunSummary(skipped=skipped)
    summary.count, summary.errors = count_records(config.out)
    summary.seconds = time.perf_counter() - started
    print(summary.describe() + f" (Ray, results in {config.out})", file=err, flush=True)
    return summary
