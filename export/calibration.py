"""The images export needs: calibration images for int8, and labelled validation images for checks.

Defaults work on a fresh install: calibration comes from the training-split samples shipped
in the package, and validation from the model's own validation split when its `card.json`
names a data folder that exists here, else from the shipped validation samples.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.export.samples import CALIBRATION_DIR, VALIDATION_DIR
from catdog.runtime.files import list_images
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec


@dataclass(frozen=True)
class ValidationSet:
    """Decoded (N, H, W, 3) uint8 images, their (N,) 0/1 labels, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str


def load_calibration_images(folder: Path | None, *, spec: ModelSpec) -> np.ndarray:
    """Decode every image under `folder` (any depth) into (N, H, W, 3) uint8; unreadable files are skipped."""
    folder = Path(folder) if folder is not None else CALIBRATION_DIR
    if not folder.is_dir():
        raise CatdogError(f"calibration folder not found: {folder}")
    paths = list_images(folder).paths
    images = []
    for path in paths:
        try:
            images.append(load_image(path, spec=spec))
        except Exception as error:  # noqa: BLE001 - one bad photo must not stop calibration
            print(f"warning: skipped calibration image {path}: {type(error).__name__}: {error}", file=sys.stderr)
    if not images:
        raise CatdogError(f"calibration folder {folder} holds no readable images: pass --calib with a folder of photos")
    return np.stack(images)


def read_card(model_path: Path) -> dict:
    """Return the training card beside the model, or {} if there is none or it is unreadable."""
    card_path = Path(model_path).with_name("card.json")
    try:
        return json.loads(card_path.read_text())
    except (OSError, ValueError):
        return {}


def model_spec_from_card(model_path: Path) -> ModelSpec | None:
    """The ModelSpec the model was trained with, from the card beside it, or None without one."""
    from catdog.runtime.spec import read_card_spec

    return read_card_spec(model_path)


def card_data_folder(model_path: Path) -> tuple[Path, float] | None:
    """The training data folder and validation fraction named by the model's card, if the folder exists.

    Cards record the folder as it was typed, often relative to where training ran, so it is
    tried relative to the current folder and to the card's own folder.
    """
    card = read_card(model_path)
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    folder = data.get("folder") or (card.get("config") or {}).get("data")
    fraction = data.get("val_fraction") or (card.get("config") or {}).get("val_split")
    if not folder or not fraction:
        return None
    for candidate in (Path(folder), Path(model_path).parent / folder):
        if candidate.is_dir():
            return candidate, float(fraction)
    return None


def load_validation_set(val_dir: Path | None, *, model_path: Path,
                        spec: ModelSpec) -> ValidationSet:
    """Decode the validation images: `--val`, else the card's split, else the shipped samples."""
    from catdog.train.data import decode_images, list_labelled_files, split_files

    if val_dir is not None:
        files = list_labelled_files(Path(val_dir))
        source = str(val_dir)
    elif (found := card_data_folder(model_path)) is not None:
        folder, fraction = found
        _, files = split_files(list_labelled_files(folder), val_fraction=fraction)
        source = f"validation split ({fraction:g}) of {folder}"
    else:
        files = list_labelled_files(VALIDATION_DIR)
        source = "shipped validation samples"
    # Keras's progress bar writes to stdout, which belongs to the summary table.
    with contextlib.redirect_stdout(sys.stderr):
        images, labels = decode_images(files, spec=spec, description="validation images")
    if len(images) == 0:
        raise CatdogError(f"no readable validation images in {source}")
    return ValidationSet(np.asarray(images), np.asarray(labels, dtype=np.float32), f"{source}, {len(images)} images")
