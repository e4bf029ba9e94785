"""How good the default's distillation teachers are, alone and as an ensemble, on the validation split.

Each Keras model (by default the shipped 64x64 default and its two teachers, `runtime/models/
catdog96/` and `catdog128/`) classifies the 800-photo validation split that the default's card
records, decoded at the model's own input size by training's `decode_images` (the runtime's
`load_image`). Then the mean of the teachers' probabilities is scored the same way: that mean is
what `catdog-train --teacher A --teacher B` distils from. Each is also scored with flip averaging
(the mean of a photo and its mirror). Accuracy and unsmoothed cross-entropy, by training's own
`catdog.train.evaluate.score`; never a test set. Needs the [train] extra (Keras) and the dataset.

    python benchmarks/teacher_ensemble.py --data ../shared/datasets/cats_and_dogs

Writes benchmarks/results/teacher_ensemble.{json,md}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import numpy as np

from catdog.measure.machine import read_cpu_model
from results_io import write_results

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "runtime" / "models"
RESULTS = ROOT / "benchmarks" / "results"


def scored(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Training's own accuracy and unsmoothed cross-entropy (`catdog.train.evaluate.score`) of (N, K)
    probabilities against (N,) class indices, rounded for the table."""
    from catdog.train.evaluate import score

    accuracy, loss = score(probabilities, labels)
    return {"accuracy": round(accuracy, 4), "loss": round(loss, 4)}


def write_markdown(report: dict, path: Path) -> None:
    lines = ["# Distillation teachers, alone and as an ensemble", "",
             f"Validation split of `{report['data']}` ({report['images']} photos, the default's card's split); "
             f"{report['machine']}. Loss is unsmoothed binary cross-entropy.", "",
             "| model | accuracy | loss | with flip: accuracy | with flip: loss |", "|---|---:|---:|---:|---:|"]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | {row['plain']['accuracy']:.2%} | {row['plain']['loss']} | "
                     f"{row['flip']['accuracy']:.2%} | {row['flip']['loss']} |")
    lines += ["", f"The two teachers give the same label on {report['teacher_agreement']:.1%} of the photos.", "",
              "Command: `python benchmarks/teacher_ensemble.py --data DATA`", ""]
    path.write_text("\n".join(lines))


@click.command(context_settings={"show_default": True})
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="The class folder the default was trained on.")
@click.option("--teacher", "teachers", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              default=(MODELS / "catdog96" / "model.keras", MODELS / "catdog128" / "model.keras"),
              help="Teacher model.keras files, averaged as the ensemble.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS / "teacher_ensemble", help="Results path without suffix.")
def main(data: Path, teachers: tuple[Path, ...], out: Path) -> None:
    """Score the default and its teachers, alone and averaged, on the validation split."""
    import keras

    from catdog.runtime.prediction import decide
    from catdog.runtime.spec import ModelSpec
    from catdog.train.data import decode_images, list_labelled_files, split_files
    from catdog.train.evaluate import predict_probabilities

    card = json.loads((MODELS / "card.json").read_text())
    _, validation = split_files(list_labelled_files(data), val_fraction=card["data"]["val_fraction"])
    rows, probabilities = {}, {}
    for path in (MODELS / "catdog.keras", *teachers):
        model = keras.models.load_model(path, compile=False)
        spec = ModelSpec(image_size=tuple(model.input_shape[1:3]), labels=validation.class_names)
        images, labels = decode_images(validation, spec=spec, description=f"validation at {spec.image_size[0]} px")
        plain = predict_probabilities(model, images)
        flipped = (plain + predict_probabilities(model, images[:, :, ::-1])) / 2
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        probabilities[name] = (plain, flipped)
        rows[name] = {"plain": scored(plain, labels), "flip": scored(flipped, labels)}
    names = list(probabilities)[1:]
    ensemble = [np.mean([probabilities[name][kind] for name in names], axis=0) for kind in (0, 1)]
    rows["mean of the teachers"] = {"plain": scored(ensemble[0], labels), "flip": scored(ensemble[1], labels)}
    agreement = float(np.mean(decide(probabilities[names[0]][0]) == decide(probabilities[names[-1]][0])))
    report = {"data": str(data), "images": len(labels), "rows": rows, "teacher_agreement": round(agreement, 4),
              "machine": f"{read_cpu_model()}, {os.cpu_count()} cores"}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
