"""Cold start: whole-process wall time of `catdog-run` on one image (target: at most 0.5 s), beside Keras.

Each measurement is a fresh process, started and timed from here, so it includes Python's own
start-up, every import, loading the model and classifying one photo:

  python          `python -c pass`, the floor no Python program can beat
  import          `python -c "import catdog.runtime.cli"`, the CLI's import path
  catdog-run      `catdog-run IMAGE --model MODEL` (the console script), stdout discarded
  keras           a plain script: import tensorflow, load the .keras model, predict one image

Results (min and median of `--runs` runs, plus how idle the CPUs were) go to
benchmarks/results/cold_start.{json,md}.

    .venv/bin/python benchmarks/cold_start.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import click

from catdog.measure.machine import describe_machine, idle_percent
from catdog.runtime.models import default_model_path, keras_baseline_path
from results_io import write_results  # benchmarks/ is the script's own folder

IMAGE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_and_dogs" / "single_prediction/cat_or_dog_1.jpg"  # ../shared beside the repo
RESULTS = Path(__file__).resolve().parent / "results" / "cold_start"

KERAS_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
from PIL import Image
model = tf.keras.models.load_model(sys.argv[1], compile=False)
image = Image.open(sys.argv[2]).convert("RGB").resize((64, 64), Image.BILINEAR)
probability = float(model.predict(np.asarray(image, np.float32)[None], verbose=0)[0, 0])
print("dog" if probability >= 0.5 else "cat", probability)
"""


def time_process(command: list[str], *, runs: int) -> dict:
    """Run a command `runs` times; return min/median wall seconds and its exit code."""
    walls, code = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        walls.append(time.perf_counter() - started)
        code = code or completed.returncode
    return {"runs": runs, "min_seconds": round(min(walls), 3), "median_seconds": round(statistics.median(walls), 3),
            "max_seconds": round(max(walls), 3), "exit_code": code}


def write_markdown(report: dict, path: Path) -> None:
    """Write the human-readable table next to the JSON."""
    machine = report["machine"]
    lines = [
        "# Cold start: one image, whole process", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores; just before the run the CPUs were "
        f"{report['load_at_start']['idle_percent']}% idle (1-minute load average "
        f"{report['load_at_start']['load_average']}, which lags).",
        f"Image: `{report['image']}`. Model: `{report['model']}`; Keras: `{report['keras_model']}`.", "",
        "| command | runs | min s | median s | max s |", "|---|---|---|---|---|",
    ]
    for name, row in report["results"].items():
        lines.append(f"| {name} | {row['runs']} | {row['min_seconds']} | {row['median_seconds']} | {row['max_seconds']} |")
    lines += ["", f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Model for catdog-run; default: the shipped default model.")
@click.option("--keras-model", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Keras model for the comparison; default: the shipped catdog.keras (skipped if absent).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=IMAGE,
              show_default=True, help="The one photo to classify.")
@click.option("--runs", type=click.IntRange(min=1), default=9, show_default=True, help="Runs per command.")
@click.option("--keras-runs", type=click.IntRange(min=0), default=3, show_default=True,
              help="Runs of the (slow) Keras script; 0 skips it.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model, keras_model, image, runs, keras_runs, out):
    """Measure one-image start-to-exit wall time and write the results as JSON and Markdown."""
    model = model or default_model_path()
    keras_model = keras_model or keras_baseline_path()
    script = Path(sys.executable).with_name("catdog-run")
    load = {"load_average": round(os.getloadavg()[0], 2), "idle_percent": idle_percent()}
    results = {
        "python -c pass": time_process([sys.executable, "-c", "pass"], runs=runs),
        "import catdog.runtime.cli": time_process([sys.executable, "-c", "import catdog.runtime.cli"], runs=runs),
        "catdog-run IMAGE": time_process([str(script), str(image), "--model", str(model)], runs=runs),
    }
    if keras_runs and keras_model.exists():
        results["keras script"] = time_process(
            [sys.executable, "-c", KERAS_SCRIPT, str(keras_model), str(image)], runs=keras_runs)
    report = {"machine": describe_machine(threads=0), "load_at_start": load, "image": str(image),
              "model": str(model), "keras_model": str(keras_model), "results": results,
              "command": " ".join(["python benchmarks/cold_start.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
