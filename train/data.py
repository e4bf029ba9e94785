"""Finding, splitting, decoding and caching the training photos.

Every photo is decoded and resized once, by the runtime's own `load_image`, into a uint8
array held in memory or in an on-disk cache; augmentation then works on those arrays each
epoch (see `augment.py`). Unreadable files are skipped with one warning line each.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError
from catdog.runtime.files import list_images
from catdog.runtime.preprocess import load_image
from catdog.runtime.spec import ModelSpec
from catdog.train.progress import DecodeProgress

# How many files are decoded (and copied) per step when building or compacting a cache.
DECODE_CHUNK = 4096

@dataclass(frozen=True)
class LabelledFiles:
    """Image paths with their integer labels and the class folder names they came from."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]


def find_class_folders(data_dir: Path) -> Path:
    """Return the folder whose subfolders are the classes (accepting the seed's `training_set/`)."""
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise CatdogError(f"--data must be a folder of class subfolders, not a file: {data_dir}")
    if not data_dir.is_dir():
        raise CatdogError(f"data folder not found: {data_dir}")
    if (data_dir / "training_set").is_dir():
        return data_dir / "training_set"
    return data_dir


def list_labelled_files(data_dir: Path) -> LabelledFiles:
    """List images under class-named subfolders; the classes are the folder names, sorted.

    Label i is the i-th class name in sorted order (the shipped data's cats=0, dogs=1).
    Raises CatdogError, one line, when the folder is missing, has no class subfolders, has
    fewer than two, or has a class folder without images.
    """
    root = find_class_folders(data_dir)
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise CatdogError(f"no class subfolders in {root}: put each class's photos in its own subfolder, "
                          f"e.g. {root}/<class name>/")
    if len(classes) < 2:
        raise CatdogError(f"need at least two class folders in {root}, found only {classes[0]}/: "
                          "add a subfolder of photos for every other class")
    paths, labels, empty = [], [], []
    for label, name in enumerate(classes):
        files = list(list_images(root / name).paths)
        if not files:
            empty.append(name)
        paths.extend(files)
        labels.extend([label] * len(files))
    if not paths:
        raise CatdogError(f"no images in the class folders of {root} ({', '.join(classes)})")
    if empty:
        raise CatdogError(f"class folder{'s' if len(empty) > 1 else ''} without images in {root}: "
                          f"{', '.join(name + '/' for name in empty)}; add photos or remove the folder")
    return LabelledFiles(tuple(paths), tuple(labels), tuple(classes))


def class_counts(files: LabelledFiles) -> dict[str, int]:
    """How many files each class has, in label order: {class name: count}."""
    counts = dict.fromkeys(files.class_names, 0)
    for label in files.labels:
        counts[files.class_names[label]] += 1
    return counts


def _split_key(path: Path) -> str:
    return hashlib.sha256(path.name.encode()).hexdigest()


def split_files(files: LabelledFiles, *, val_fraction: float) -> tuple[LabelledFiles, LabelledFiles]:
    """Split stratified by class, stable by file name: the same file always lands on the same side.

    Within each class the files are ordered by a hash of their name and the first
    round(n * val_fraction) go to validation, so the split never depends on the seed.
    """
    if not 0.0 < val_fraction < 1.0:
        raise CatdogError(f"--val-split must be between 0 and 1, got {val_fraction}")
    train_index, val_index = [], []
    for label in sorted(set(files.labels)):
        members = [i for i, value in enumerate(files.labels) if value == label]
        members.sort(key=lambda i: _split_key(files.paths[i]))
        count = max(1, round(len(members) * val_fraction))
        val_index.extend(members[:count])
        train_index.extend(members[count:])

    def subset(indices: list[int]) -> LabelledFiles:
        indices = sorted(indices)
        return LabelledFiles(tuple(files.paths[i] for i in indices),
                             tuple(files.labels[i] for i in indices), files.class_names)

    return subset(train_index), subset(val_index)


def _decode(path: Path, spec: ModelSpec):
    try:
        return load_image(path, spec=spec), None
    except Exception as error:  # noqa: BLE001 - any unreadable file is skipped, never fatal
        return None, f"{type(error).__name__}: {error}"


def _cache_key(files: LabelledFiles, spec: ModelSpec) -> str:
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for path, label in zip(files.paths, files.labels):
        stat = path.stat()
        digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{label}\n".encode())
    return digest.hexdigest()[:24]


def cache_paths(files: LabelledFiles, *, spec: ModelSpec, cache_dir: Path) -> tuple[Path, Path]:
    """The images and labels `.npy` files of `files` decoded by `spec` in `cache_dir`."""
    key = _cache_key(files, spec)
    return Path(cache_dir) / f"{key}.images.npy", Path(cache_dir) / f"{key}.labels.npy"


def find_other_caches(cache_dir: Path, *, keep: set[Path]) -> list[Path]:
    """Every cache file (`*.npy`) in `cache_dir` other than those in `keep`: caches of other photos,
    other sizes or older versions of the files, and leftovers of interrupted builds."""
    return sorted(path for path in Path(cache_dir).glob("*.npy") if path not in keep)


def _finish_cache(partial: Path, *, keep: np.ndarray, labels: np.ndarray, image_file: Path,
                  label_file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Move a fully decoded cache into place; the images file appears last, so its presence
    (with the labels) always means a complete cache."""
    if not keep.all():
        # Drop the rows of unreadable files in chunks, so the copy never holds the whole array.
        compact = partial.with_name(partial.name.replace(".partial-", ".compact-"))
        source = np.load(partial, mmap_mode="r")
        kept_rows = np.flatnonzero(keep)
        target = np.lib.format.open_memmap(compact, mode="w+", dtype=np.uint8,
                                           shape=(len(kept_rows), *source.shape[1:]))
        for start in range(0, len(kept_rows), DECODE_CHUNK):
            target[start:start + DECODE_CHUNK] = source[kept_rows[start:start + DECODE_CHUNK]]
        target.flush()
        del source, target
        partial.unlink()
        partial = compact
    label_partial = label_file.with_name(f"{partial.stem}.labels.npy")
    np.save(label_partial, labels)
    os.replace(label_partial, label_file)
    os.replace(partial, image_file)
    return np.load(image_file, mmap_mode="r"), labels


def decode_images(files: LabelledFiles, *, spec: ModelSpec,
                  cache_dir: Path | None = None, workers: int | None = None,
                  description: str = "images") -> tuple[np.ndarray, np.ndarray]:
    """Decode every file once into (N, H, W, 3) uint8 images and (N,) float32 labels.

    With `cache_dir`, the arrays live in `.npy` files there, memory-mapped rather than read
    into RAM, and keyed by the files' paths, sizes and modification times: any change to the
    files builds a new cache, and an unchanged folder reuses the old one without decoding.
    """
    if cache_dir:
        cache_dir = Path(cache_dir)
        image_file, label_file = cache_paths(files, spec=spec, cache_dir=cache_dir)
        if image_file.exists() and label_file.exists():
            print(f"{description}: reusing disk cache {image_file}", file=sys.stderr)
            return np.load(image_file, mmap_mode="r"), np.load(label_file)
    height, width = spec.image_size
    count = len(files.paths)
    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # A per-process name lets two workers sharing a cache folder build it at the same time.
        partial = image_file.with_name(image_file.name.replace(".images.", f".images.partial-{os.getpid()}."))
        images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(count, height, width, 3))
    else:
        images = np.empty((count, height, width, 3), dtype=np.uint8)
    keep = np.zeros(count, dtype=bool)
    skipped = 0
    print(f"{description}: decoding {count:,} files at {height}x{width}", file=sys.stderr, flush=True)
    progress = DecodeProgress(description, count=count)
    try:
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
            # Chunks bound the number of pending decodes, which matters for a million files.
            for start in range(0, count, DECODE_CHUNK):
                chunk = files.paths[start:start + DECODE_CHUNK]
                for index, (array, problem) in enumerate(pool.map(lambda p: _decode(p, spec), chunk), start):
                    if array is None:
                        skipped += 1
                        print(f"warning: skipped {files.paths[index]}: {problem}", file=sys.stderr)
                    else:
                        images[index], keep[index] = array, True
                    progress.update(index + 1)
        progress.finish()
        if skipped:
            print(f"warning: {skipped} of {count} files could not be read and were skipped", file=sys.stderr)
        labels = np.asarray(files.labels, dtype=np.float32)[keep]
        if cache_dir:
            images.flush()
            del images
            return _finish_cache(partial, keep=keep, labels=labels, image_file=image_file, label_file=label_file)
    except BaseException:
        # An interrupted or failed build leaves no half-written cache behind.
        if cache_dir:
            partial.unlink(missing_ok=True)
        raise
    return images[keep] if skipped else images, labels


def cache_folder(config, *, write_dir: Path) -> Path | None:
    """Where `--cache disk` keeps decoded images for `config` (a TrainConfig): --cache-dir, else
    WRITE_DIR/cache; None in memory. Non-chief workers pass their throwaway folder as `write_dir`,
    so they never write to --out."""
    if config.cache != "disk":
        return None
    return Path(config.cache_dir) if config.cache_dir else Path(write_dir) / "cache"


def decode_splits(train_files: LabelledFiles, val_files: LabelledFiles, *, spec: ModelSpec,
                  cache_dir: Path | None, train_size: tuple[int, int] | None = None, own_cache: bool = False):
    """Decode the training split at `train_size` (default: the spec's size) and the validation split
    at the spec's size, exactly as the runtime would; raise one line when a class lost every
    training image. Other caches in `cache_dir` are deleted when it is the run's `own_cache`
    (OUT/cache), and only counted in a shared --cache-dir, which other runs may be using."""
    train_spec = dataclasses.replace(spec, image_size=tuple(train_size)) if train_size else spec
    train = decode_images(train_files, spec=train_spec, cache_dir=cache_dir, description="training images")
    val = decode_images(val_files, spec=spec, cache_dir=cache_dir, description="validation images")
    present = np.bincount(np.asarray(train[1]).astype(int), minlength=spec.num_classes)
    missing = [label for label, count in zip(spec.labels, present) if count == 0]
    if missing:
        raise CatdogError(f"no readable training images for {', '.join(missing)}: every class needs photos")
    if cache_dir:
        used = {*cache_paths(train_files, spec=train_spec, cache_dir=cache_dir),
                *cache_paths(val_files, spec=spec, cache_dir=cache_dir)}
        others = find_other_caches(cache_dir, keep=used)
        megabytes = sum(path.stat().st_size for path in others) / 1e6
        if others and own_cache:
            for path in others:
                path.unlink(missing_ok=True)
            print(f"removed {len(others)} old cache files ({megabytes:,.0f} MB) from {cache_dir}", file=sys.stderr)
        elif others:
            print(f"{cache_dir} also holds {len(others)} other cache files ({megabytes:,.0f} MB) of other photos, "
                  "sizes or runs; delete them by hand when no run needs them", file=sys.stderr)
    return train, val
