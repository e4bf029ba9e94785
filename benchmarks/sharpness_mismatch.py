"""Are training crops sharper than the photos the runtime shows the model? Measured, not assumed.

Training decodes each photo once into a cache at `--cache-scale` times the model's size (the
shipped default: 128 px for a 64-px model), then samples crops down to the model's size with a
bilinear projective transform that does not antialias. The runtime resizes each photo straight
to the model's size with Pillow, which does. This script takes the validation split of the
default's card and builds three versions of it at the default's size:

- **runtime**: the runtime's own `load_image` (what validation and every user see);
- **training path**: decoded at the cache size, then sampled down by training's `augment_batch`
  with every random range set to 0 (the crop that covers the whole photo, unflipped);
- **training path with `--antialias`**: the same, sampled at the cache's size and shrunk by
  `tf.image.resize(antialias=True)`, as `catdog-train --antialias` makes its crops.

For each it reports the mean absolute difference of neighbouring pixels (grey levels, 0..255),
a plain measure of high-frequency content, and the default's accuracy and unsmoothed loss, by
training's own `evaluate`. Never a test set. Needs the [train] extra and the dataset.

    python benchmarks/sharpness_mismatch.py --data ../shared/datasets/cats_and_dogs

Writes benchmarks/results/sharpness_mismatch.{json,md}.
"""

from __future__ import annotations

import dataclasses
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


def neighbour_difference(images: np.ndarray) -> float:
    """Mean absolute difference of horizontally neighbouring grey pixels of (N, H, W, 3) images."""
    grey = images.astype(np.float32).mean(axis=-1)
    return float(np.abs(np.diff(grey, axis=2)).mean())


def write_markdown(report: dict, path: Path) -> None:
    lines = ["# Training crops against runtime photos: sharpness and accuracy", "",
             f"`{report['model']}` on the validation split of `{report['data']}` ({report['images']} photos), "
             f"training cache {report['cache_size']} px sampled to {report['image_size']} px; {report['machine']}.",
             "", "| images | neighbour difference (grey levels) | accuracy | loss |", "|---|---:|---:|---:|"]
    for name, row in report["rows"].items():
        lines.append(f"| {name} | {row['neighbour_difference']:.2f} | {row['accuracy']:.2%} | {row['loss']} |")
    lines += ["", "Command: `python benchmarks/sharpness_mismatch.py --data DATA`", ""]
    path.write_text("\n".join(lines))


@click.command(context_settings={"show_default": True})
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="The class folder the default was trained on.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=MODELS / "catdog.keras",
              help="A Keras model whose card.json (beside it, or runtime/models/card.json) gives the split and cache.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS / "sharpness_mismatch",
              help="Results path without suffix.")
def main(data: Path, model: Path, out: Path) -> None:
    """Compare the sharpness of training crops and runtime photos, and the model's score on each."""
    import keras
    import tensorflow as tf

    from catdog.runtime.spec import ModelSpec
    from catdog.train.augment import Augmentation, augment_batch
    from catdog.train.config import TrainConfig
    from catdog.train.data import decode_images, list_labelled_files, split_files
    from catdog.train.evaluate import evaluate

    card_path = model.with_name("card.json") if model.with_name("card.json").exists() else MODELS / "card.json"
    card = json.loads(card_path.read_text())
    config = card["config"]
    _, validation = split_files(list_labelled_files(data), val_fraction=card["data"]["val_fraction"])
    size = tuple(card["model_spec"]["image_size"])
    cache_size = TrainConfig(data=data, image_size=size, cache_scale=config.get("cache_scale", 1.0)).cache_size
    runtime, labels = decode_images(validation, spec=ModelSpec(image_size=size, labels=validation.class_names),
                                    description=f"validation at {size[0]} px")
    cached, _ = decode_images(validation, spec=ModelSpec(image_size=cache_size, labels=validation.class_names),
                              description=f"validation at the cache's {cache_size[0]} px")
    still = Augmentation(flip=False, zoom=0.0, shear=0.0, rotation=0.0, shift=0.0, brightness=0.0, contrast=0.0)
    sampled = augment_batch(tf.constant(cached, tf.float32), tf.constant([0, 0], tf.int64), augmentation=still,
                            output_size=size).numpy()
    smooth = augment_batch(tf.constant(cached, tf.float32), tf.constant([0, 0], tf.int64), output_size=size,
                           augmentation=dataclasses.replace(still, antialias=True)).numpy()
    versions = {"runtime (Pillow resize)": runtime,
                "training path (cache, bilinear sampling)": np.round(np.clip(sampled, 0, 255)).astype(np.uint8),
                "training path with --antialias (cache, antialiasing shrink)": np.round(np.clip(smooth, 0, 255)).astype(np.uint8)}
    network = keras.models.load_model(model, compile=False)
    rows = {}
    for name, images in versions.items():
        accuracy, loss = evaluate(network, images, labels)
        rows[name] = {"neighbour_difference": round(neighbour_difference(images), 3),
                      "accuracy": round(accuracy, 4), "loss": round(loss, 4)}
    name = str(model.relative_to(ROOT)) if model.resolve().is_relative_to(ROOT) else str(model)
    report = {"model": name, "data": str(data), "images": len(labels), "image_size": size[0],
              "cache_size": cache_size[0], "rows": rows, "machine": f"{read_cpu_model()}, {os.cpu_count()} cores"}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
