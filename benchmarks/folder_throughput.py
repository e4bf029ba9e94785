"""Folder throughput: images/s of a whole `catdog-run` process on full-resolution JPEGs (target: 2,000/s on 2 cores).

Measures, on the fullres_sample photos repeated `--repeat` times (after one warm-up pass,
so the files are in the page cache):

  stages     decode-and-resize alone and inference alone, on one thread, in CPU ms per image
  pipeline   `classify_files` (decode pool + batched inference) over the whole list, in-process
  cli        the `catdog-run FOLDER... --format json` process end to end, stdout to /dev/null,
             `--runs` times, alternating with the same process forced onto Pillow's decoder
             (`catdog.runtime.jpeg.simplejpeg = None`, the decode before runtime/jpeg.py), so
             both see the same machine; medians and the best run of each are reported

Wall-clock images/s depend on what else runs on the machine, so each row also reports the
process CPU time, its images per CPU-second, the cores it kept busy, and how idle the CPUs
were at the start and the end. Results go to benchmarks/results/folder_throughput.{json,md}.

    .venv/bin/python benchmarks/folder_throughput.py --model runtime/models/catdog_int8.tflite
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
from catdog.runtime.engine import open_engine
from catdog.runtime.models import default_model_path
from catdog.runtime.pipeline import classify_files, decode_file
from catdog.runtime.sources import list_folder
from results_io import write_results  # benchmarks/ is the script's own folder

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample"  # ../shared beside the repo
RESULTS = Path(__file__).resolve().parent / "results" / "folder_throughput"


def timed(function, *arguments, **options) -> tuple[object, float, float]:
    """Run a function; return (result, wall seconds, process CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*arguments, **options)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure_stages(engine, paths: list[Path], *, batch_size: int) -> dict:
    """CPU milliseconds per image for decoding alone and inference alone, one thread each."""
    arrays, _, decode_cpu = timed(lambda: [decode_file(path, engine.spec)[0] for path in paths])
    batch = np.stack(arrays[:batch_size])
    engine.predict(batch)
    rounds = max(1, 2000 // batch_size)
    _, _, infer_cpu = timed(lambda: [engine.predict(batch) for _ in range(rounds)])
    decode_ms = decode_cpu * 1000 / len(paths)
    infer_ms = infer_cpu * 1000 / (rounds * batch_size)
    return {"decode_cpu_ms_per_image": round(decode_ms, 3), "inference_cpu_ms_per_image": round(infer_ms, 3),
            "projected_images_per_second_on_2_idle_cores": round(2000 / (decode_ms + infer_ms), 1)}


def measure_pipeline(engine, paths: list[Path], *, batch_size: int) -> dict:
    """Images/s of the in-process folder pipeline."""
    results, wall, cpu = timed(lambda: list(classify_files(engine, paths, batch_size=batch_size)))
    errors = sum(result.error is not None for result in results)
    return {"images": len(results), "errors": errors, "wall_seconds": round(wall, 3),
            "images_per_second": round(len(results) / wall, 1), "cpu_seconds": round(cpu, 3),
            "images_per_cpu_second": round(len(results) / cpu, 1)}


def describe_priority() -> str:
    """This process's scheduling priority: its nice value and, on Linux, its autogroup's.

    With autogroups (the default on desktop and many VM kernels) `nice` only ranks processes of
    one session against each other; other sessions' jobs yield the cores to a benchmark only
    when its autogroup is niced, e.g.
    `setsid bash -c 'echo -15 > /proc/self/autogroup && exec python benchmarks/folder_throughput.py'`.
    """
    try:
        autogroup = Path("/proc/self/autogroup").read_text().strip()
    except OSError:
        autogroup = "no autogroup"
    return f"nice {os.nice(0)}, {autogroup}"


PILLOW_ONLY = ("import sys, catdog.runtime.jpeg as jpeg; jpeg.simplejpeg = None; "
               "from catdog.runtime.cli import main; sys.argv[0] = 'catdog-run'; main()")
TARGET_IMAGES_PER_SECOND = 2000.0


def measure_cli(model: Path, folders: list[Path], *, batch_size: int, threads: int | None,
                decoder: str = "fast") -> dict:
    """Images/s of one whole `catdog-run` process, including start-up; decoder "fast" or "pillow"."""
    start = ["-m", "catdog.runtime.cli"] if decoder == "fast" else ["-c", PILLOW_ONLY]
    command = [sys.executable, *start, *map(str, folders), "--model", str(model),
               "--format", "json", "--batch-size", str(batch_size)]
    if threads:
        command += ["--threads", str(threads)]
    before = os.times()
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    count = len(list_folder(folders[0])) * len(folders)
    return {"images": count, "exit_code": completed.returncode, "wall_seconds": round(wall, 3),
            "images_per_second": round(count / wall, 1), "cpu_seconds": round(cpu, 3),
            "images_per_cpu_second": round(count / cpu, 1), "cores_used": round(cpu / wall, 2),
            "summary": completed.stderr.strip().splitlines()[-1:]}


def measure_cli_runs(model: Path, folders: list[Path], *, batch_size: int, threads: int | None, runs: int) -> dict:
    """Alternate fast-path and Pillow-only processes `runs` times each; medians, best run and every run."""
    samples: dict[str, list[dict]] = {"fast": [], "pillow": []}
    for _ in range(runs):
        for decoder in samples:
            samples[decoder].append(measure_cli(model, folders, batch_size=batch_size, threads=threads, decoder=decoder))
    summary = {}
    for decoder, rows in samples.items():
        summary[decoder] = {
            "images": rows[0]["images"], "runs": len(rows), "exit_codes": sorted({row["exit_code"] for row in rows}),
            **{f"median_{key}": round(float(np.median([row[key] for row in rows])), 3)
               for key in ("wall_seconds", "images_per_second", "cpu_seconds", "images_per_cpu_second", "cores_used")},
            "best_images_per_second": max(row["images_per_second"] for row in rows),
            "every_run_images_per_second": [row["images_per_second"] for row in rows],
            "summary": rows[-1]["summary"]}
    return summary


def write_markdown(report: dict, path: Path) -> None:
    """Write the human-readable table next to the JSON."""
    machine, stages, cli = report["machine"], report["stages"], report["cli"]
    lines = [
        "# Folder throughput", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; the CPUs were {report['load_at_start']['idle_percent']}% "
        f"idle just before the run and {report['load_at_end']['idle_percent']}% just after (other processes took "
        f"the rest; 1-minute load average {report['load_at_start']['load_average']} at the start).",
        f"Priority: {report['priority']} (a negative autogroup nice makes other sessions' jobs yield the cores).",
        f"Model: `{report['model']}` on {report['engine']['engine']} {report['engine']['version']}, "
        f"threads={report['engine']['threads']}, batch size {report['batch_size']}.",
        f"Data: {report['photos']} full-resolution JPEGs x {report['repeat']} passes.", "",
        "| measurement | images | runs | median images/s | best images/s | median CPU s | images per CPU-second | cores used |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pipeline = report["pipeline"]
    lines.append(f"| pipeline (in-process, fast path) | {pipeline['images']} | 1 | {pipeline['images_per_second']} | "
                 f"{pipeline['images_per_second']} | {pipeline['cpu_seconds']} | {pipeline['images_per_cpu_second']} | "
                 f"{round(pipeline['cpu_seconds'] / pipeline['wall_seconds'], 2)} |")
    for decoder, name in (("fast", "catdog-run process, fast path (simplejpeg)"),
                          ("pillow", "catdog-run process, Pillow only (before)")):
        row = cli[decoder]
        lines.append(f"| {name} | {row['images']} | {row['runs']} | {row['median_images_per_second']:.0f} | "
                     f"{row['best_images_per_second']:.0f} | {row['median_cpu_seconds']} | "
                     f"{row['median_images_per_cpu_second']:.0f} | {row['median_cores_used']} |")
    lines += ["", f"One thread, CPU time per image: decode+resize {stages['decode_cpu_ms_per_image']} ms, "
              f"inference {stages['inference_cpu_ms_per_image']} ms; on 2 idle cores that projects to "
              f"{stages['projected_images_per_second_on_2_idle_cores']} images/s.", "",
              f"Target: a whole process at {TARGET_IMAGES_PER_SECOND:.0f} images/s or more: {report['verdict']}", "",
              f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Model to run; default: the shipped default model.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=PHOTOS,
              show_default=True, help="Folder of photos.")
@click.option("--repeat", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many times the folder is classified in one run.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Images per call.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Engine threads.")
@click.option("--runs", type=click.IntRange(min=1), default=7, show_default=True,
              help="catdog-run processes per decoder, alternating.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model, data, repeat, batch_size, threads, runs, out):
    """Measure folder throughput and write the results as JSON and Markdown."""
    model = model or default_model_path()
    engine = open_engine(model, threads=threads)
    paths = list_folder(data)
    load = {"load_average": round(os.getloadavg()[0], 2), "idle_percent": idle_percent()}
    list(classify_files(engine, paths, batch_size=batch_size))  # warm the page cache and the engine
    report = {
        "machine": describe_machine(threads=threads or 0), "load_at_start": load,
        "priority": describe_priority(), "model": str(model), "engine": engine.describe(), "batch_size": batch_size,
        "photos": len(paths), "repeat": repeat,
        "stages": measure_stages(engine, paths, batch_size=batch_size),
        "pipeline": measure_pipeline(engine, paths * repeat, batch_size=batch_size),
        "cli": measure_cli_runs(model, [data] * repeat, batch_size=batch_size, threads=threads, runs=runs),
        "load_at_end": {"load_average": round(os.getloadavg()[0], 2), "idle_percent": idle_percent()},
        "command": " ".join(["python benchmarks/folder_throughput.py", *sys.argv[1:]]),
    }
    fast = report["cli"]["fast"]
    report["verdict"] = (f"median {fast['median_images_per_second']:.0f}, best {fast['best_images_per_second']:.0f} "
                         f"images/s: {'PASS' if fast['median_images_per_second'] >= TARGET_IMAGES_PER_SECOND else 'FAIL'}"
                         f" (median)")
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
