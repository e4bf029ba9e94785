"""The images export needs: calibration images for int8, and labelled validation images for checks.

* calibration: `--calib DIR` (any images), else the training split of the data folder a
  catdog training card names (when it exists here; all of it for a run trained with --val DIR),
  else, for the shipped model only, the training-split samples shipped in the package. A user's
  own model never gets the shipped model's photos.
* validation: `--val DIR` (class folders, sorted names = label order), else the card's
  validation split, or the validation folder the run was trained with (never its training
  photos), else, for the shipped model only, the shipped validation samples; else None, and
  int8 files are checked by agreement on the calibration images instead.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.export.samples import CALIBRATION_DIR, VALIDATION_DIR
from catdog.provenance import describe_path
from catdog.runtime.files import list_images
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec


@dataclass(frozen=True)
class ValidationSet:
    """Decoded (N, H, W, 3) uint8 images, their (N,) int label indices, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str


CALIBRATION_LIMIT = 500  # images taken from a card's training split: plenty for MinMax ranges
# Below this many images MinMax ranges are likely to miss values the model will see (TensorFlow's
# post-training quantization guide suggests about 100-500 samples); fewer is a warning, not an error.
MINIMUM_CALIBRATION_IMAGES = 200


def calibration_count_warning(count: int) -> str | None:
    """One warning line when `count` int8 calibration images are fewer than MINIMUM_CALIBRATION_IMAGES, else None."""
    if count >= MINIMUM_CALIBRATION_IMAGES:
        return None
    return (f"warning: calibrating int8 on only {count} images (fewer than {MINIMUM_CALIBRATION_IMAGES}): ranges may "
            "be off; pass --calib DIR with more photos like the ones the model will see")


def load_calibration_images(folder: Path | None, *, spec: ModelSpec, paths: list[Path] | None = None) -> np.ndarray:
    """Decode every image under `folder` (any depth), or `paths`, into (N, H, W, 3) uint8; unreadable files are skipped."""
    if paths is None:
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


def card_calibration_paths(model_path: Path) -> tuple[list[Path], str] | None:
    """Up to CALIBRATION_LIMIT training files of the card's data folder, and a description, or None."""
    from catdog.train.data import list_labelled_files, split_files

    found = card_data(model_path)
    if found is None:
        return None
    files = list_labelled_files(found.folder)
    if found.val_fraction is not None:  # trained on a split: calibrate on its training part only
        files, _ = split_files(files, val_fraction=found.val_fraction)
        what = "training split"
    else:  # trained with --val DIR: the whole data folder was training data
        what = "training folder"
    step = max(1, len(files.paths) // CALIBRATION_LIMIT)
    paths = list(files.paths[::step][:CALIBRATION_LIMIT])
    return paths, f"{what} {describe_path(found.folder)}, {len(paths)} images"


def card_spec(model_path: Path) -> ModelSpec | None:
    """The ModelSpec in the training card beside the model, or None (also for an invalid one: the contract says why)."""
    from catdog.runtime.spec import SpecError, read_card_spec

    try:
        return read_card_spec(model_path)
    except SpecError:
        return None


@dataclass(frozen=True)
class CardData:
    """Where a training card's photos are on this machine: the data folder, and either the validation
    fraction split off it or (a run trained with --val DIR) the separate validation folder, if found."""

    folder: Path
    val_fraction: float | None
    val_folder: Path | None


def card_data(model_path: Path) -> CardData | None:
    """The training data folder (and validation split or folder) named by the model's card, if the folder exists.

    Cards record folders as typed (relative to where training ran) or by name only, so each is
    tried as the run's checkpoint state recorded it on this machine, then relative to the current
    folder and to the card's own folder.
    """
    from catdog.runtime.spec import read_card

    card = read_card(model_path)
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    config = card.get("config") or {}
    folder = data.get("folder") or config.get("data")
    val = data.get("val") or config.get("val")
    fraction = None if val else (data.get("val_fraction") or config.get("val_split"))
    if not folder or not (val or fraction):
        return None
    state = _checkpoint_state(model_path)
    found = _existing_folder(folder, model_path=model_path, local=state.get("data_folder"))
    if found is None:
        return None
    val_folder = _existing_folder(val, model_path=model_path, local=state.get("val_folder")) if val else None
    return CardData(found, float(fraction) if fraction else None, val_folder)


def _existing_folder(recorded: str, *, model_path: Path, local: str | None) -> Path | None:
    """The first existing folder among `local` (this machine's own path, when the run was trained here)
    and `recorded` (from here, then from the card's folder)."""
    for candidate in (*([Path(local)] if local else []), Path(recorded), Path(model_path).parent / recorded):
        if candidate.is_dir():
            return candidate
    return None


def _checkpoint_state(model_path: Path) -> dict:
    """The run's checkpoint state (it holds this machine's paths of the data folders; cards hold only names)."""
    import json

    try:
        state = json.loads((Path(model_path).parent / "checkpoint" / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def load_validation_set(val_dir: Path | None, *, model_path: Path, spec: ModelSpec,
                        shipped: bool) -> ValidationSet | None:
    """Decode labelled validation images: `--val`, else the card's split, else (shipped model) the samples; else None.

    Class folders are read in sorted order, which is label order; their count must be K.
    """
    from catdog.train.data import list_labelled_files, split_files

    if val_dir is not None:
        files = list_labelled_files(Path(val_dir))
        source = describe_path(val_dir)
    elif (found := card_data(model_path)) is not None and (found.val_fraction or found.val_folder):
        if found.val_folder is not None:  # trained with --val DIR: check on that folder, never on training photos
            files = list_labelled_files(found.val_folder)
            source = f"validation folder {describe_path(found.val_folder)}"
        else:
            _, files = split_files(list_labelled_files(found.folder), val_fraction=found.val_fraction)
            source = f"validation split ({found.val_fraction:g}) of {describe_path(found.folder)}"
    elif shipped:
        files = list_labelled_files(VALIDATION_DIR)
        source = "shipped validation samples"
    else:
        return None
    if len(files.class_names) != spec.num_classes:
        raise CatdogError(f"{source} has {len(files.class_names)} class folders ({', '.join(files.class_names)}) but the model "
                          f"has {spec.num_classes} labels ({', '.join(spec.labels)}): pass --val with one folder per label")
    # Decoded here rather than with training's cached decoder: a few hundred images need no
    # cache, and its unlabelled Keras progress bar has no place in export's output.
    images, labels = [], []
    for path, label in zip(files.paths, files.labels):
        try:
            images.append(load_image(path, spec=spec))
            labels.append(int(label))
        except Exception as error:  # noqa: BLE001 - one bad photo must not stop verification
            print(f"warning: skipped validation image {path}: {type(error).__name__}: {error}", file=sys.stderr)
    if not images:
        raise CatdogError(f"no readable validation images in {source}")
    return ValidationSet(np.stack(images), np.asarray(labels, dtype=int), f"{source}, {len(images)} images")


# Calibration honesty (issue 31): the int8 ranges are only as good as the images they were fitted on.
NEAR_CONSTANT_STD = 8.0  # an image whose pixels vary less than this (of 255) is a blank or grey frame
NEAR_CONSTANT_FRACTION = 0.25  # this share of near-constant images or more draws a warning
MEAN_SHIFT_LIMIT = 0.5  # channel mean apart by more than this many validation standard deviations
STD_RATIO_LIMITS = (0.5, 2.0)  # calibration / validation channel standard deviation outside this


def calibration_warnings(calibration_images: np.ndarray, *, validation_images: np.ndarray | None) -> list[str]:
    """Warning lines when the calibration images cannot stand for the photos the model will see.

    Two checks on (N, H, W, 3) uint8 images: too many near-constant images (pixel standard deviation
    below NEAR_CONSTANT_STD, e.g. grey frames), and, with validation images, channel means or
    standard deviations far from theirs. Neither needs labels; a one-class calibration set of
    ordinary photos passes both, which is why the summary names an unlabelled check on the
    calibration images as such.
    """
    warnings = []
    pixels = np.asarray(calibration_images, dtype=np.float32)
    spread = pixels.reshape(len(pixels), -1).std(axis=1)
    flat = int(np.sum(spread < NEAR_CONSTANT_STD))
    if flat and flat >= NEAR_CONSTANT_FRACTION * len(pixels):
        warnings.append(f"warning: {flat} of {len(pixels)} calibration images are near-constant (pixel standard "
                        f"deviation below {NEAR_CONSTANT_STD:g} of 255, e.g. blank or grey frames): int8 ranges fitted "
                        "on them will not fit real photos; pass --calib DIR with photos like the ones the model will see")
    if validation_images is not None and len(validation_images):
        reference = np.asarray(validation_images, dtype=np.float32)
        calib_mean, calib_std = pixels.mean(axis=(0, 1, 2)), pixels.std(axis=(0, 1, 2))
        val_mean, val_std = reference.mean(axis=(0, 1, 2)), reference.std(axis=(0, 1, 2))
        shift = np.abs(calib_mean - val_mean) / np.maximum(val_std, 1.0)
        ratio = calib_std / np.maximum(val_std, 1.0)
        if shift.max() > MEAN_SHIFT_LIMIT or ratio.min() < STD_RATIO_LIMITS[0] or ratio.max() > STD_RATIO_LIMITS[1]:
            def rgb(values):
                return "/".join(f"{value:.0f}" for value in values)
            warnings.append(f"warning: the calibration images are far from the validation images' statistics (RGB "
                            f"mean {rgb(calib_mean)} vs {rgb(val_mean)}, standard deviation {rgb(calib_std)} vs "
                            f"{rgb(val_std)}, of 255): int8 ranges may not fit; calibrate on photos like the validation set")
    return warnings


ONE_LABEL_SHARE = 0.9  # the source model giving one label to this share of the calibration images or more


def label_mix_warning(predicted: np.ndarray, *, labels: tuple[str, ...]) -> str | None:
    """One warning line when the source model gives (nearly) every calibration image the same label, else None.

    `predicted` holds the source model's (N,) label indices on the calibration images. A set of one
    class fits the int8 ranges to that class; checked on itself (no --val), it passes. Ten images
    at least, so a tiny set's chance mix draws no warning.
    """
    counts = np.bincount(np.asarray(predicted, dtype=int), minlength=len(labels))
    top = int(np.argmax(counts))
    if len(predicted) < 10 or counts[top] < ONE_LABEL_SHARE * len(predicted):
        return None
    return (f"warning: the source model labels {counts[top]} of {len(predicted)} calibration images '{labels[top]}': "
            "calibrated on one class, int8 ranges fit that class only; pass --calib DIR with photos of every label "
            "and --val DIR to check accuracy")


def same_images_note(calibration_source: str | None) -> str:
    """The summary line for int8 files checked on the images they were calibrated on (no labelled --val)."""
    return (f"note: the int8 files were checked on their own calibration images ({calibration_source}): a wrong "
            "calibration set (grey frames, one class only) passes that check too; pass --val DIR with labelled photos "
            "(one folder per label) to check accuracy on other images")
