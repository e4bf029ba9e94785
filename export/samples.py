"""The calibration and validation images shipped inside the package, and the script that makes them.

`catdog-export` must work on a fresh install with no dataset at hand, so the package carries
a few hundred JPEGs already at the shipped model's input size (its training card's ModelSpec:
size and resize method): `samples/calibration/` from the training split (for int8
calibration) and `samples/validation/<class>/` from the validation split (for checking
exported models). Both come from the same stable split training uses, so calibration never
sees a validation image. Regenerate them with

    python -m catdog.export.samples --data ../shared/datasets/cats_and_dogs

The same photos at another model's size (the 96x96 rung's calibration and checks) go to a folder
of their own: `--model runtime/models/catdog96/model.keras --out runs/samples96`.
"""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import click

from catdog.errors import CatdogError, exit_on_error
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec, read_card_spec

SAMPLES_DIR = Path(__file__).parent / "samples"
CALIBRATION_DIR = SAMPLES_DIR / "calibration"
VALIDATION_DIR = SAMPLES_DIR / "validation"
JPEG_QUALITY = 90


def encode_jpeg(pixels) -> bytes:
    """Encode an (H, W, 3) uint8 array as a small JPEG without chroma subsampling artefacts."""
    from PIL import Image

    buffer = io.BytesIO()
    # 4:4:4 keeps the colour detail a model-sized image still has; subsampling would blur it further.
    Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def shipped_spec() -> ModelSpec:
    """The shipped Keras model's ModelSpec, from its training card; CatdogError without one."""
    from catdog.export.loaders import default_model_path

    spec = read_card_spec(default_model_path())
    if spec is None:
        raise CatdogError(f"no training card beside {default_model_path()}: the samples' image size comes from it")
    return spec


def write_samples(data_dir: Path, *, calibration_count: int = 256, validation_per_class: int = 250,
                  val_fraction: float = 0.1, seed: int = 0, out_dir: Path = SAMPLES_DIR,
                  spec: ModelSpec | None = None) -> dict[str, int]:
    """Write calibration and validation JPEGs, preprocessed for `spec`, under `out_dir`; return their sizes.

    `spec` (image size, resize method) defaults to the shipped model's (`shipped_spec`).
    """
    from catdog.train.data import list_labelled_files, split_files

    spec = spec or shipped_spec()

    files = list_labelled_files(Path(data_dir))
    training, validation = split_files(files, val_fraction=val_fraction)
    generator = random.Random(seed)
    calibration_dir, validation_dir = Path(out_dir) / "calibration", Path(out_dir) / "validation"
    for folder in (calibration_dir, validation_dir):
        if folder.exists():
            shutil.rmtree(folder)
    calibration_dir.mkdir(parents=True)
    # Draw calibration images evenly from every class so the activation ranges see each of them.
    picked = []
    for label in sorted(set(training.labels)):
        members = [path for path, value in zip(training.paths, training.labels) if value == label]
        picked.extend(generator.sample(members, min(len(members), calibration_count // len(set(training.labels)))))
    sizes = {"calibration_bytes": 0, "validation_bytes": 0, "calibration_images": 0, "validation_images": 0}
    for index, path in enumerate(sorted(picked)):
        data = encode_jpeg(load_image(path, spec=spec))
        (calibration_dir / f"{index:04d}_{path.stem}.jpg").write_bytes(data)
        sizes["calibration_bytes"] += len(data)
        sizes["calibration_images"] += 1
    for label, class_name in enumerate(validation.class_names):
        members = [path for path, value in zip(validation.paths, validation.labels) if value == label]
        class_dir = validation_dir / class_name
        class_dir.mkdir(parents=True)
        for path in sorted(generator.sample(members, min(len(members), validation_per_class))):
            data = encode_jpeg(load_image(path, spec=spec))
            (class_dir / f"{path.stem}.jpg").write_bytes(data)
            sizes["validation_bytes"] += len(data)
            sizes["validation_images"] += 1
    return sizes


@click.command(context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="The training data folder (class subfolders, or the seed's folder holding training_set/).")
@click.option("--calibration-count", type=click.IntRange(min=200), default=256,
              help="Training-split images to ship for int8 calibration.")
@click.option("--validation-per-class", type=click.IntRange(min=1), default=250,
              help="Validation-split images to ship per class for verification.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              help="The validation fraction training used (the split must match).")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Write the same photos at this model's size instead (its training card's ModelSpec), e.g. "
                   "runtime/models/catdog96/model.keras for the 96x96 rung.  [default: the shipped model]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write calibration/ and validation/ into.  [default: the package's samples folder]")
def main(data: Path, calibration_count: int, validation_per_class: int, val_fraction: float, model: Path | None,
         out: Path | None) -> None:
    """Write the package's shipped calibration and validation samples from a training folder."""
    with exit_on_error():
        if not Path(data).is_dir():
            raise CatdogError(f"data folder not found: {data}")
        spec = None
        if model is not None and (spec := read_card_spec(model)) is None:
            raise CatdogError(f"no training card beside {model}: the samples' image size comes from it")
        sizes = write_samples(data, calibration_count=calibration_count, validation_per_class=validation_per_class,
                              val_fraction=val_fraction, out_dir=out or SAMPLES_DIR, spec=spec)
        click.echo(f"calibration: {sizes['calibration_images']} images, {sizes['calibration_bytes'] / 1e6:.2f} MB; "
                   f"validation: {sizes['validation_images']} images, {sizes['validation_bytes'] / 1e6:.2f} MB "
                   f"in {out or SAMPLES_DIR}")


if __name__ == "__main__":
    main()
