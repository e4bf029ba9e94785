"""Tests for `catdog-export --verify-on` (export/emulated.py): emulated CPU classes, their gate, their errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import build_softmax_onnx
from catdog.errors import CatdogError
from catdog.export import emulated, pipeline, verify
from catdog.export.cli import main


def test_help_names_the_emulated_classes():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "--verify-on" in result.output and "cortex-a72" in result.output


def test_unknown_class_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["--verify-on", "avx2,pentium", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "unknown class 'pentium': choose from avx2, cortex-a72, cortex-a76" in result.output
    assert result.output.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_class_names_stand_for_the_short_names():
    assert emulated.parse_classes("x86-64 avx2, aarch64,aarch64 asimddp,avx2") == ("avx2", "cortex-a72", "cortex-a76")


def test_missing_emulator_fails_before_any_work_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(emulated.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["--int8", "--verify-on", "avx2", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "needs qemu-x86_64-static: sudo apt install qemu-user-static" in result.output


def test_arm64_class_without_the_userland_names_the_script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .ci/arm64-userland.sh here
    monkeypatch.delenv("CATDOG_ARM64_USERLAND", raising=False)
    with pytest.raises(CatdogError, match=r"arm64-userland.sh build && bash .ci/arm64-userland.sh install"):
        emulated.check_available(("cortex-a76",))


def test_a_file_that_fails_on_an_emulated_class_fails_with_that_class(tmp_path, monkeypatch):
    labels = np.array([0, 1] * 50)
    reference = np.eye(2, dtype=np.float32)[labels]
    host = verify.compare(reference, reference=reference, labels=labels, precision="int8", max_drop=1.0)
    assert host.failure is None
    answers = {"value": reference}
    monkeypatch.setattr(emulated, "file_probabilities", lambda path, images, *, name: answers["value"])
    arguments = dict(name="avx2", check=host, metadata={"precision": "int8"}, images=None, labels=labels,
                     reference=reference, max_drop=1.0)
    assert pipeline.verify_emulated(tmp_path / "m.onnx", **arguments) is host
    flipped = reference.copy()
    flipped[:2] = flipped[:2, ::-1]  # 2 of 100 images change label: a 2-point drop, over --max-drop 1
    answers["value"] = flipped
    failed = pipeline.verify_emulated(tmp_path / "m.onnx", **arguments)
    assert failed.failure and "on x86-64 avx2 (emulated avx2)" in failed.failure and failed.accuracy == 0.98


@pytest.mark.skipif(shutil.which("qemu-x86_64-static") is None, reason="qemu-user-static is not installed")
def test_the_avx2_worker_runs_the_file_under_qemu_and_gives_the_host_answers(tmp_path):
    from catdog.runtime.engine import open_engine

    model = build_softmax_onnx(tmp_path / "fruit.onnx")
    images = np.random.default_rng(0).integers(0, 256, size=(6, 48, 48, 3), dtype=np.uint8)
    native = open_engine(model).predict(images)
    under_qemu = emulated.file_probabilities(model, images, name="avx2")
    np.testing.assert_allclose(under_qemu, native, atol=1e-6)
