"""Tests that nothing catdog ships or writes into a card or a model file holds the machine's paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catdog.provenance import describe_command, describe_folder, describe_path
from catdog.runtime.metadata import read_metadata
from conftest import write_colour_images

MODELS = Path(__file__).resolve().parent.parent / "runtime" / "models"
# An absolute path of a build machine: a POSIX path under a top folder people keep work in, a home
# folder, or a Windows drive. Relative paths (runtime/models/..., ../shared/...) are fine.
ABSOLUTE = re.compile(r"(?<![\w.])(/(work|home|root|Users|tmp|mnt|srv|opt|data|var)/[\w.-]+|~/[\w.-]+|[A-Za-z]:\\\\?[\w.-]+)")


def absolute_paths(text: str) -> list[str]:
    return [match.group(0) for match in ABSOLUTE.finditer(text)]


def test_the_pattern_finds_what_it_must():
    assert absolute_paths('"run": "/work/runs/ens_mix02"') == ["/work/runs"]
    assert absolute_paths("of /home/ann/photos, 800 images") == ["/home/ann"]
    assert absolute_paths(r'"C:\\Users\\ann"') and absolute_paths("~/photos")
    assert not absolute_paths("runtime/models/catdog.keras ../shared/datasets/cats_and_dogs https://x.org/a 1/2")


def shipped_texts():
    for path in sorted(MODELS.rglob("*")):
        if path.suffix in (".json", ".md", ".csv", ".txt"):
            yield path, path.read_text()
        elif path.suffix in (".onnx", ".tflite"):
            yield path, json.dumps(read_metadata(path))


@pytest.mark.parametrize("path,text", list(shipped_texts()), ids=lambda value: value.name if isinstance(value, Path) else "")
def test_no_shipped_file_holds_an_absolute_path(path, text):
    found = absolute_paths(text)
    assert not found, f"{path.relative_to(MODELS.parent.parent)} holds the build machine's paths: {found[:3]}"


def test_paths_are_recorded_without_the_machine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    assert describe_path("photos/cats") == "photos/cats"  # relative: kept as typed
    assert describe_path(tmp_path / "photos") == "photos"  # absolute inside the working folder: relative
    assert describe_path("/somewhere/else/cats_and_dogs") == "cats_and_dogs"  # outside: its name only
    assert describe_path("shipped:catdog.keras") == "shipped:catdog.keras"
    assert describe_command("catdog-train --data /srv/ann/cats --out=/srv/ann/runs/x --epochs 3") == \
        "catdog-train --data cats --out=x --epochs 3"


def test_a_folder_is_named_with_its_count_and_a_hash_that_ignores_where_it_lives(tmp_path):
    write_colour_images(tmp_path / "a" / "cats", count=3)
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "cats").rename(tmp_path / "b" / "cats")
    record = describe_folder(tmp_path / "b", base=tmp_path)
    assert record["path"] == "b" and record["images"] == 3 and len(record["sha256"]) == 64
    write_colour_images(tmp_path / "c" / "cats", count=3)
    assert describe_folder(tmp_path / "c", base=tmp_path)["sha256"] == record["sha256"]


def test_export_options_and_train_config_record_no_absolute_path(tmp_path):
    from catdog.export.config import ExportConfig
    from catdog.train.config import TrainConfig

    outside = Path("/srv/ann/photos")
    assert not absolute_paths(json.dumps(ExportConfig(val=outside, calib=outside, out=outside).to_dict()))
    assert not absolute_paths(json.dumps(TrainConfig(data=outside, out=outside / "run").to_dict()))
