"""The on-disk image cache behind `catdog-train --cache disk`: reused when the files are
unchanged, rebuilt when one changes, memory-mapped, and never left half-written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog.train import data
from catdog.train.config import TrainConfig

pytestmark = pytest.mark.tf  # decode_images reports progress with Keras's progress bar

from conftest import CATDOG_SPEC


def write_folder(root: Path, *, per_class: int = 4) -> Path:
    """Two class folders of small, distinct PNGs."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("cats", "dogs")):
        folder = root / name
        folder.mkdir(parents=True)
        for index in range(per_class):
            pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            pixels[..., label] = 30 * index
            Image.fromarray(pixels).save(folder / f"{name}_{index}.png")
    return root


@pytest.fixture
def counted_decodes(monkeypatch):
    """Count calls into the runtime's `load_image`, which only a cache miss makes."""
    calls = []
    original = data.load_image

    def counting(source, *, spec):
        calls.append(Path(source))
        return original(source, spec=spec)

    monkeypatch.setattr(data, "load_image", counting)
    return calls


def cache_files(cache_dir: Path) -> list[str]:
    return sorted(path.name for path in cache_dir.iterdir())


def test_second_run_reuses_the_cache_without_decoding(tmp_path, counted_decodes, capsys):
    files = data.list_labelled_files(write_folder(tmp_path / "photos"))
    cache_dir = tmp_path / "cache"
    first_images, first_labels = data.decode_images(files, spec=CATDOG_SPEC, cache_dir=cache_dir, description="training images")
    assert len(counted_decodes) == 8
    assert "reusing disk cache" not in capsys.readouterr().err
    assert [name.split(".", 1)[1] for name in cache_files(cache_dir)] == ["images.npy", "labels.npy"]

    second_images, second_labels = data.decode_images(files, spec=CATDOG_SPEC, cache_dir=cache_dir, description="training images")
    assert len(counted_decodes) == 8, "an unchanged folder must not be decoded again"
    assert "training images: reusing disk cache" in capsys.readouterr().err
    # The images stay on disk, memory-mapped, and match a plain in-memory decode exactly.
    assert isinstance(second_images, np.memmap)
    memory_images, memory_labels = data.decode_images(files, spec=CATDOG_SPEC, cache_dir=None)
    np.testing.assert_array_equal(second_images, memory_images)
    np.testing.assert_array_equal(first_images, memory_images)
    np.testing.assert_array_equal(second_labels, memory_labels)
    assert first_labels.tolist() == [0.0] * 4 + [1.0] * 4


@pytest.mark.parametrize("change", ["touch", "rewrite"])
def test_a_changed_file_rebuilds_the_cache(tmp_path, counted_decodes, capsys, change):
    root = write_folder(tmp_path / "photos")
    cache_dir = tmp_path / "cache"
    files = data.list_labelled_files(root)
    data.decode_images(files, spec=CATDOG_SPEC, cache_dir=cache_dir)
    changed = root / "dogs" / "dogs_2.png"
    if change == "touch":
        stat = changed.stat()
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    else:
        Image.new("RGB", (40, 48), (250, 10, 10)).save(changed)
    decodes_before = len(counted_decodes)
    capsys.readouterr()

    images, _ = data.decode_images(data.list_labelled_files(root), spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert len(counted_decodes) == decodes_before + 8, "a changed file must rebuild the cache"
    assert "reusing disk cache" not in capsys.readouterr().err
    assert len([name for name in cache_files(cache_dir) if name.endswith(".images.npy")]) == 2
    if change == "rewrite":
        assert tuple(images[6, 32, 32]) == (250, 10, 10)


def test_unreadable_files_are_dropped_from_the_cache(tmp_path, capsys):
    root = write_folder(tmp_path / "photos")
    (root / "cats" / "cats_9.png").write_bytes(b"not a picture")
    cache_dir = tmp_path / "cache"
    images, labels = data.decode_images(data.list_labelled_files(root), spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert "skipped" in capsys.readouterr().err
    assert images.shape == (8, 64, 64, 3) and labels.tolist() == [0.0] * 4 + [1.0] * 4
    assert not [name for name in cache_files(cache_dir) if "partial" in name or "compact" in name]
    again, _ = data.decode_images(data.list_labelled_files(root), spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert "reusing disk cache" in capsys.readouterr().err
    np.testing.assert_array_equal(again, images)


def test_an_interrupted_build_leaves_no_cache(tmp_path, monkeypatch):
    files = data.list_labelled_files(write_folder(tmp_path / "photos"))
    cache_dir = tmp_path / "cache"

    def interrupt(source, *, spec):
        raise KeyboardInterrupt

    monkeypatch.setattr(data, "_decode", lambda path, spec: interrupt(path, spec=spec))
    with pytest.raises(KeyboardInterrupt):
        data.decode_images(files, spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert cache_files(cache_dir) == []


def test_default_cache_folder_is_under_the_writing_folder(tmp_path, capsys):
    """`--cache disk` without `--cache-dir` caches in OUT/cache (a worker's own temp folder)."""
    from catdog.train.data import cache_folder, decode_splits
    from catdog.train.fit import list_splits

    root = write_folder(tmp_path / "photos", per_class=5)
    config = TrainConfig(data=root, out=tmp_path / "out", cache="disk", val_split=0.2)
    assert cache_folder(config, write_dir=tmp_path / "out") == tmp_path / "out" / "cache"
    assert cache_folder(TrainConfig(data=root), write_dir=tmp_path / "out") is None
    train_files, val_files, split = list_splits(config)
    assert split["class_counts"] == {"train": {"cats": 4, "dogs": 4}, "val": {"cats": 1, "dogs": 1}}
    cache_dir = cache_folder(config, write_dir=tmp_path / "out")
    (train_x, train_y), (val_x, _) = decode_splits(train_files, val_files, spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert len(train_y) == 8 and len(val_x) == 2
    assert isinstance(train_x, np.memmap)
    assert len(cache_files(tmp_path / "out" / "cache")) == 4  # images + labels for each split
    capsys.readouterr()
    decode_splits(train_files, val_files, spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert capsys.readouterr().err.count("reusing disk cache") == 2

    explicit = TrainConfig(data=root, out=tmp_path / "out", cache="disk", cache_dir=tmp_path / "shared")
    assert cache_folder(explicit, write_dir=tmp_path / "elsewhere") == tmp_path / "shared"


def test_a_runs_own_cache_drops_older_caches_and_a_shared_one_only_counts_them(tmp_path, capsys):
    """OUT/cache holds only what the run uses; a shared --cache-dir is left alone, with a count."""
    from catdog.train.data import decode_splits
    from catdog.train.fit import list_splits

    root = write_folder(tmp_path / "photos", per_class=5)
    train_files, val_files, _ = list_splits(TrainConfig(data=root, out=tmp_path / "out", val_split=0.2))
    for own, folder in ((True, tmp_path / "out" / "cache"), (False, tmp_path / "shared")):
        # An earlier run at another size left its caches behind.
        decode_splits(train_files, val_files, spec=CATDOG_SPEC.replace(image_size=(32, 32)), cache_dir=folder)
        old = cache_files(folder)
        capsys.readouterr()
        decode_splits(train_files, val_files, spec=CATDOG_SPEC, cache_dir=folder, own_cache=own)
        err = capsys.readouterr().err
        if own:
            assert len(cache_files(folder)) == 4 and not set(old) & set(cache_files(folder))
            assert "removed 4 old cache files" in err
        else:
            assert len(cache_files(folder)) == 8 and set(old) <= set(cache_files(folder))
            assert "also holds 4 other cache files" in err and "delete them by hand" in err


def test_another_image_size_gets_its_own_cache(tmp_path):
    files = data.list_labelled_files(write_folder(tmp_path / "photos", per_class=2))
    cache_dir = tmp_path / "cache"
    small, _ = data.decode_images(files, spec=CATDOG_SPEC.replace(image_size=(32, 40)), cache_dir=cache_dir)
    default, _ = data.decode_images(files, spec=CATDOG_SPEC, cache_dir=cache_dir)
    assert small.shape == (4, 32, 40, 3) and default.shape == (4, 64, 64, 3)
    assert len(cache_files(cache_dir)) == 4
