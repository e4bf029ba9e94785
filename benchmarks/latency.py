"""Measure catdog's latency targets on this machine and write benchmarks/results/latency.{json,md,png}.

Runs `catdog-bench` on the shipped default's files (`catdog_*`; the ladder's larger rungs are
`ladder.py`'s) against the shipped Keras baseline, on one thread,
with accuracy on a labelled folder, then checks the targets:

* the int8 TFLite model's batch-1 p50 is at most 0.15 ms;
* it is at least 300x faster (p50) than Keras `model.predict` on one image;
* its accuracy is within 1 point of the Keras model's.

Usage: python benchmarks/latency.py [MODEL]... [--baseline FILE] [--data DIR] [--runs N] [--out DIR]
The default data is the 500 validation-split photos shipped in export/samples/validation (64x64, never
trained on and never a test set); fullres_sample would flatter accuracy, since its photos are training images.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import click

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parent.parent / "export" / "samples" / "validation"
P50_TARGET_MS = 0.15
SPEEDUP_TARGET = 300.0
ACCURACY_GAP_POINTS = 1.0


def check_targets(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """Return (target, met, measured) for each target, from the JSON rows."""
    int8 = next((row for row in rows if row["format"] == "tflite" and row["precision"] == "int8"), None)
    keras = next((row for row in rows if row["model"].endswith("(predict)")), None)
    if int8 is None:
        return [("int8 TFLite model present", False, "no int8 .tflite row")]
    p50 = int8["latency_ms"]["p50"]
    checks = [(f"int8 TFLite p50 <= {P50_TARGET_MS} ms at batch 1, 1 thread", p50 <= P50_TARGET_MS, f"{p50:.3f} ms")]
    speedup = int8["speedup_vs_keras"]["predict"]
    checks.append((f">= {SPEEDUP_TARGET:.0f}x faster than Keras model.predict (p50)",
                   speedup is not None and speedup >= SPEEDUP_TARGET,
                   "no Keras baseline" if speedup is None else f"{speedup:.0f}x"))
    if keras is not None and int8["accuracy"] is not None and keras["accuracy"] is not None:
        gap = (keras["accuracy"] - int8["accuracy"]) * 100
        checks.append((f"int8 accuracy within {ACCURACY_GAP_POINTS:g} point of Keras", gap <= ACCURACY_GAP_POINTS,
                       f"int8 {int8['accuracy'] * 100:.1f}% vs Keras {keras['accuracy'] * 100:.1f}% "
                       f"on {int8.get('images')} images"))
    return checks


@click.command()
@click.argument("models", nargs=-1, metavar="[MODEL]...", type=click.Path(exists=True, dir_okay=False))
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False), default=None, show_default=True,
              help="Keras baseline (default: the shipped catdog.keras).")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              show_default=True, help="Labelled folder (cats/, dogs/) for accuracy.")
@click.option("--runs", type=click.IntRange(min=1), default=None, show_default=True,
              help="Exact batch-1 runs per model (default: catdog-bench's adaptive 200 runs and 2 s).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=RESULTS, show_default=True,
              help="Folder for latency.json, latency.md and latency.png.")
def main(models: tuple[str, ...], baseline: str | None, data: Path, runs: int | None, out: Path) -> None:
    """Run catdog-bench on MODELs (default: the shipped default's files), write the results and check the targets."""
    out.mkdir(parents=True, exist_ok=True)
    if not models:
        from catdog.runtime.models import shipped_models

        models = tuple(os.path.relpath(path) for path in shipped_models() if path.name.startswith("catdog_"))
    command = [sys.executable, "-m", "catdog.measure.cli", *models, "--threads", "1", "--batch", "32", "--data", str(data),
               "--json", str(out / "latency.json"), "--markdown", str(out / "latency.md"),
               "--plot", str(out / "latency.png")]
    if runs is not None:
        command += ["--runs", str(runs)]
    if baseline is not None:
        command += ["--baseline", baseline]
    completed = subprocess.run(command)
    if completed.returncode != 0:
        sys.exit(completed.returncode)
    checks = check_targets(json.loads((out / "latency.json").read_text()))
    from catdog.provenance import describe_command

    recorded = describe_command(shlex.join(["catdog-bench", *command[3:]]))  # no machine paths in results
    lines = ["", "## Targets", "", f"Command: `{recorded}`", "",
             "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {target} | {measured} | {'yes' if met else 'NO'} |" for target, met, measured in checks]
    with open(out / "latency.md", "a") as markdown:
        markdown.write("\n".join(lines) + "\n")
    for target, met, measured in checks:
        click.echo(f"{'PASS' if met else 'FAIL'}  {target}: {measured}")


if __name__ == "__main__":
    main()
