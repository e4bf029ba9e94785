"""Measure what `catdog-export --tta flip` costs and gains, and write benchmarks/results/tta_flip.{json,md}.

Exports the shipped model with flip test-time augmentation (int8 TFLite and ONNX, verified as
usual) into a temporary folder, then runs `catdog-bench` on those files beside the shipped ones,
one thread, with accuracy on the 500 validation-split photos shipped in export/samples/validation
(never a test set). The cost is the p50 latency ratio, the gain the accuracy difference.

Usage: python benchmarks/tta_flip.py [--data DIR] [--out PATH]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = ROOT / "export" / "samples" / "validation"


def run(command: list[str]) -> None:
    """Run a catdog command from this interpreter's venv, failing loudly."""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True)


@click.command(context_settings={"show_default": True})
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=DEFAULT_DATA,
              help="Labelled folder (one subfolder per label) for accuracy.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS / "tta_flip", help="Results path without suffix.")
def main(data: Path, out: Path) -> None:
    """Export the shipped model with --tta flip and bench it beside the shipped files."""
    bin_dir = Path(sys.executable).parent
    from catdog.runtime.models import MODELS_DIR

    folder = Path(tempfile.mkdtemp(prefix="catdog-tta-"))
    try:
        run([str(bin_dir / "catdog-export"), "--int8", "--tta", "flip", "--out", str(folder)])
        models = [MODELS_DIR / "catdog_int8.tflite", folder / "catdog_flip_int8.tflite",
                  MODELS_DIR / "catdog_int8.onnx", folder / "catdog_flip_int8.onnx"]
        run([str(bin_dir / "catdog-bench"), *map(str, models), "--data", str(data), "--threads", "1",
             "--json", str(out.with_suffix(".json")), "--markdown", str(out.with_suffix(".md"))])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = {row["model"]: row for row in json.loads(out.with_suffix(".json").read_text())}
    lines = ["", "## Flip TTA: cost and gain (same process, 1 thread, batch 1)", "",
             "| format | p50 without | p50 with flip | cost | accuracy without | accuracy with flip | gain |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for plain, flipped in (("catdog_int8.tflite", "catdog_flip_int8.tflite"), ("catdog_int8.onnx", "catdog_flip_int8.onnx")):
        a, b = rows[plain], rows[flipped]
        lines.append(f"| {plain.split('.')[-1]} int8 | {a['latency_ms']['p50']:.3f} ms | {b['latency_ms']['p50']:.3f} ms | "
                     f"{b['latency_ms']['p50'] / a['latency_ms']['p50']:.2f}x | {a['accuracy']:.2%} | {b['accuracy']:.2%} | "
                     f"{100 * (b['accuracy'] - a['accuracy']):+.2f} pp |")
    lines += ["", "Command: `python benchmarks/tta_flip.py`", ""]
    with open(out.with_suffix(".md"), "a", encoding="utf-8") as stream:
        stream.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
