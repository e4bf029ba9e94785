"""catdog-train's option defaults and early refusals, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from catdog.train.cli import main
from catdog.train.config import TrainConfig


def test_the_default_out_folder_is_named_after_the_data_folder(tmp_path):
    assert TrainConfig(data=tmp_path / "fruit").out == Path("runs") / "fruit"
    assert TrainConfig(data=tmp_path / "fruit", out=tmp_path / "mine").out == tmp_path / "mine"


def test_a_file_given_as_data_is_refused_in_one_line(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not a folder")
    result = CliRunner().invoke(main, ["--data", str(photo), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: --data must be a folder of class subfolders, not a file: {photo}"
    assert not (tmp_path / "out").exists()
