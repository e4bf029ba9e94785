"""Draft fidelity: how close JPEG draft decoding (libjpeg's 1/2, 1/4, 1/8 DCT scaling) stays to a full decode.

For every photo in fullres_sample, decodes it twice with the runtime's own `load_image`,
once with `jpeg_draft=True` (the default) and once with `jpeg_draft=False`, and reports:

  pixels        max and mean absolute difference of the 64x64x3 uint8 arrays
  probability   max and mean absolute difference of P(dog) from the model, draft vs full
  labels        how many photos get the same label both ways, and the accuracy of each
  speed         CPU milliseconds per decode both ways

Results go to benchmarks/results/draft_fidelity.{json,md}.

    .venv/bin/python benchmarks/draft_fidelity.py --model runtime/models/catdog_int8.tflite
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import click
import numpy as np

from catdog.measure.machine import describe_machine
from catdog.runtime.engine import open_engine
from catdog.runtime.models import default_model_path
from catdog.runtime.preprocess import load_image
from catdog.runtime.sources import list_folder
from results_io import write_results  # benchmarks/ is the script's own folder

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample"  # ../shared beside the repo
RESULTS = Path(__file__).resolve().parent / "results" / "draft_fidelity"


def decode_all(paths: list[Path], spec) -> tuple[np.ndarray, float]:
    """Decode every path; return the (N, H, W, 3) array and CPU milliseconds per image."""
    started = time.process_time()
    images = np.stack([load_image(path, spec=spec) for path in paths])
    return images, (time.process_time() - started) * 1000 / len(paths)


def compare(engine, paths: list[Path]) -> dict:
    """Compare draft and full decodes of the same photos, pixel by pixel and through the model."""
    draft_preprocessing = dataclasses.replace(engine.spec, jpeg_draft=True)
    full_preprocessing = dataclasses.replace(engine.spec, jpeg_draft=False)
    draft, draft_ms = decode_all(paths, draft_preprocessing)
    full, full_ms = decode_all(paths, full_preprocessing)
    difference = np.abs(draft.astype(np.int16) - full.astype(np.int16))
    draft_probability = engine.predict(draft)[:, 1]  # P(labels[1]) of the binary shipped model
    full_probability = engine.predict(full)[:, 1]
    probability_difference = np.abs(draft_probability - full_probability)
    agree = int(((draft_probability >= 0.5) == (full_probability >= 0.5)).sum())
    per_image_max = difference.reshape(len(paths), -1).max(axis=1)
    # The sample's class folders (cats/, dogs/) give the true labels, so accuracy shows the cost, if any.
    truth = np.array([path.parent.name.rstrip("s") == engine.labels[1] for path in paths])
    return {
        "images": len(paths),
        "pixel_max_abs_difference": int(difference.max()),
        "pixel_mean_abs_difference": round(float(difference.mean()), 3),
        "pixel_p99_abs_difference": float(np.percentile(difference, 99)),
        "images_identical": int((per_image_max == 0).sum()),
        "probability_max_abs_difference": round(float(probability_difference.max()), 5),
        "probability_mean_abs_difference": round(float(probability_difference.mean()), 5),
        "label_agreement": f"{agree}/{len(paths)}",
        "accuracy_draft": round(float(((draft_probability >= 0.5) == truth).mean()), 4),
        "accuracy_full": round(float(((full_probability >= 0.5) == truth).mean()), 4),
        "draft_decode_cpu_ms": round(draft_ms, 3),
        "full_decode_cpu_ms": round(full_ms, 3),
    }


def write_markdown(report: dict, path: Path) -> None:
    """Write the human-readable summary next to the JSON."""
    result, machine = report["result"], report["machine"]
    lines = [
        "# JPEG draft decoding vs full decoding", "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores. Model: `{report['model']}` "
        f"({report['engine']['engine']}). Data: {result['images']} full-resolution JPEGs from `{report['data']}`.", "",
        "| measure | value |", "|---|---|",
    ]
    lines += [f"| {key.replace('_', ' ')} | {value} |" for key, value in result.items()]
    lines += ["", f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Model whose answers are compared; default: the shipped default model.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=PHOTOS,
              show_default=True, help="Folder of JPEG photos.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model, data, out):
    """Measure how far draft decoding moves pixels and predictions, and write JSON and Markdown."""
    model = model or default_model_path()
    engine = open_engine(model)
    paths = list_folder(data)
    report = {"machine": describe_machine(threads=0), "model": str(model), "engine": engine.describe(),
              "data": str(data), "result": compare(engine, paths),
              "command": " ".join(["python benchmarks/draft_fidelity.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(json.dumps(report["result"], indent=2))


if __name__ == "__main__":
    main()
