"""Does `--threads 2` help? Batch-32 throughput of every shipped model on 1 and 2 engine threads.

  engines   each shipped TFLite/ONNX model opened twice in one process (threads=1, threads=2),
            batch-32 `predict` timed round-robin in short chunks (`catdog.measure.timing.run_interleaved`),
            as `catdog-bench --batch 32 --threads N` times it; images/s from the median batch time
  folder    whole `catdog-run FOLDER... --format json` processes with `--threads 1` and `--threads 2`,
            alternating, on the fullres_sample photos repeated `--repeat` times (the default model)

A second engine thread can only help when a core is free: in a folder run both cores are
already busy decoding. The CPU time beside each figure shows what the second thread costs.
Results go to benchmarks/results/threads.{json,md}.

    .venv/bin/python benchmarks/threads.py --data /work/shared/datasets/cats_and_dogs/fullres_sample
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
import numpy as np

from catdog.measure.machine import describe_machine, idle_percent
from catdog.measure.timing import run_interleaved
from catdog.runtime.engine import open_engine
from catdog.runtime.models import default_model_path, shipped_models
from catdog.runtime.sources import list_folder
from folder_throughput import describe_priority  # benchmarks/ is the script's own folder
from results_io import write_results  # benchmarks/ is the script's own folder

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample"  # ../shared beside the repo
RESULTS = Path(__file__).resolve().parent / "results" / "threads"
BATCH = 32


def measure_engines(models: list[Path], *, runs: int) -> dict:
    """Batch-32 images/s and CPU per image of every model on 1 and 2 threads, interleaved."""
    batch = None
    calls, cpu = {}, {}
    for path in models:
        for threads in (1, 2):
            engine = open_engine(path, threads=threads)
            if batch is None:
                batch = np.random.default_rng(0).integers(0, 256, size=(BATCH, *engine.spec.input_shape), dtype=np.uint8)
            name = f"{path.name} threads={threads}"
            calls[name] = (lambda engine=engine: engine.predict(batch))
    timings, _ = run_interleaved(calls, warmup=3, min_runs=runs)
    for name, call in calls.items():  # CPU per image, measured apart: process time includes every thread
        started = time.process_time()
        for _ in range(max(5, runs // 4)):
            call()
        cpu[name] = (time.process_time() - started) * 1000 / (max(5, runs // 4) * BATCH)
    return {name: {"images_per_second": round(BATCH / float(np.median(samples)), 1),
                   "cpu_ms_per_image": round(cpu[name], 4)} for name, samples in timings.items()}


def run_folder(model: Path, folders: list[Path], *, threads: int) -> dict:
    """One whole catdog-run process over the folders: images/s and CPU seconds."""
    command = [sys.executable, "-m", "catdog.runtime.cli", *map(str, folders), "--model", str(model),
               "--format", "json", "--threads", str(threads)]
    before, started = os.times(), time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall, after = time.perf_counter() - started, os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    count = len(list_folder(folders[0])) * len(folders)
    return {"images_per_second": count / wall, "cpu_seconds": cpu, "exit_code": completed.returncode}


def measure_folder(model: Path, folders: list[Path], *, runs: int) -> dict:
    """Alternate --threads 1 and --threads 2 processes; medians and best runs."""
    samples: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(runs):
        for threads in samples:
            samples[threads].append(run_folder(model, folders, threads=threads))
    return {f"threads={threads}": {
        "median_images_per_second": round(float(np.median([row["images_per_second"] for row in rows])), 1),
        "best_images_per_second": round(max(row["images_per_second"] for row in rows), 1),
        "median_cpu_seconds": round(float(np.median([row["cpu_seconds"] for row in rows])), 3),
        "exit_codes": sorted({row["exit_code"] for row in rows})} for threads, rows in samples.items()}


def write_markdown(report: dict, path: Path) -> None:
    """The two tables."""
    machine = report["machine"]
    lines = ["# --threads 1 vs 2 at batch 32", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores; CPUs {report['idle_percent_at_start']}% idle at "
             f"the start, {report['idle_percent_at_end']}% at the end; priority: {report['priority']} "
             "(a negative autogroup nice makes other sessions' jobs yield the cores).", "",
             "| model | threads | images/s at batch 32 (median batch) | CPU ms per image (all threads) |",
             "|---|---|---|---|"]
    for name, row in report["engines"].items():
        model, threads = name.rsplit(" threads=", 1)
        lines.append(f"| {model} | {threads} | {row['images_per_second']:.0f} | {row['cpu_ms_per_image']} |")
    lines += ["", f"Whole `catdog-run` process, {report['folder_images']} full-resolution JPEGs, `{report['folder_model']}`, "
              f"{report['folder_runs']} alternating runs each:", "",
              "| --threads | median images/s | best images/s | median CPU s |", "|---|---|---|---|"]
    for name, row in report["folder"].items():
        lines.append(f"| {name.split('=')[1]} | {row['median_images_per_second']:.0f} | "
                     f"{row['best_images_per_second']:.0f} | {row['median_cpu_seconds']} |")
    lines += ["", f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=PHOTOS,
              show_default=True, help="Folder of photos for the catdog-run rows.")
@click.option("--repeat", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many times the folder is classified in one catdog-run process.")
@click.option("--runs", type=click.IntRange(min=5), default=200, show_default=True,
              help="Timed batch-32 calls per engine row.")
@click.option("--folder-runs", type=click.IntRange(min=1), default=5, show_default=True,
              help="catdog-run processes per thread count.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(data, repeat, runs, folder_runs, out):
    """Measure whether a second engine thread helps, and write JSON and Markdown."""
    models = [path for path in shipped_models() if path.suffix != ".keras"]
    idle = idle_percent()
    model = default_model_path()
    folder = measure_folder(model, [data] * repeat, runs=folder_runs)
    report = {"machine": describe_machine(threads=0), "idle_percent_at_start": idle, "priority": describe_priority(),
              "engines": measure_engines(models, runs=runs), "folder": folder, "folder_model": model.name,
              "folder_images": len(list_folder(data)) * repeat, "folder_runs": folder_runs,
              "idle_percent_at_end": idle_percent(),
              "command": " ".join(["python benchmarks/threads.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
