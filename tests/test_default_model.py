"""Tests for the default file's pick (catdog.runtime.models.choose_default_model) with small fake tables.

The pick: among the shipped files whose answers hold on the host's CPU class, the fastest for the
class per the benchmarks' table; a file not verified for the class is never a candidate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import build_onnx_model, catdog_metadata, write_colour_images
from catdog.runtime import models

VNNI, AVX2 = "x86-64 avx512_vnni", "x86-64 avx2"


@pytest.fixture
def models_dir(tmp_path) -> Path:
    """Tiny stand-ins for the three default files: int8 ONNX verified on VNNI only, fp32 ONNX on both, a TFLite."""
    folder = tmp_path / "models"
    folder.mkdir()
    build_onnx_model(folder / "catdog_int8.onnx",
                     metadata={**catdog_metadata(precision="int8"), "verified_cpu_classes": [VNNI]})
    build_onnx_model(folder / "catdog_fp32.onnx", metadata={**catdog_metadata(), "verified_cpu_classes": [VNNI, AVX2]})
    (folder / "catdog_int8.tflite").write_bytes(b"stand-in, never opened by the pick")
    return folder


def measured_table(*, tflite_holds: bool = True) -> dict:
    """A table with VNNI measured natively: TFLite fastest, then int8 ONNX, then fp32 ONNX."""
    return {"default_order": list(models.DEFAULT_ORDER), "classes": {VNNI: {
        "measured_natively": True, "measured_on": "Test EPYC",
        "order": ["catdog_int8.tflite", "catdog_int8.onnx", "catdog_fp32.onnx"],
        "files": {"catdog_int8.tflite": {"p50_ms": 0.1, "answers": {"holds": tflite_holds, "checked": "natively"}},
                  "catdog_int8.onnx": {"p50_ms": 0.2}, "catdog_fp32.onnx": {"p50_ms": 0.4}}}}}


def test_picks_the_fastest_file_measured_for_the_class(models_dir):
    choice = models.choose_default_model(cpu_class=VNNI, models_dir=models_dir, table=measured_table(), litert=True)
    assert choice.path == models_dir / "catdog_int8.tflite" and choice.basis == "measured"
    assert "fastest measured natively" in choice.reason and "p50 0.100 ms" in choice.reason
    assert choice.describe().startswith("model catdog_int8.tflite (fastest verified for x86-64 avx512_vnni")


def test_never_trades_answers_for_speed(models_dir):
    choice = models.choose_default_model(cpu_class=VNNI, models_dir=models_dir, table=measured_table(tflite_holds=False),
                                         litert=True)
    assert choice.path == models_dir / "catdog_int8.onnx"
    assert "catdog_int8.tflite: answers do NOT hold" in choice.reason
    assert "verified on it by catdog-export" in choice.reason


def test_an_unmeasured_class_keeps_the_default_order_and_needs_verification(models_dir):
    # AVX2: not in the table; the TFLite and int8 ONNX are not verified on it, the fp32 file is.
    choice = models.choose_default_model(cpu_class=AVX2, models_dir=models_dir, table=measured_table(), litert=True)
    assert choice.path == models_dir / "catdog_fp32.onnx" and choice.basis == "default order"
    assert "not measured natively" in choice.reason
    assert "catdog_int8.onnx: not verified on it" in choice.reason


def test_no_verified_file_falls_back_to_float(models_dir):
    choice = models.choose_default_model(cpu_class="aarch64 asimddp", models_dir=models_dir, table={}, litert=True)
    assert choice.path == models_dir / "catdog_fp32.onnx" and choice.basis == "float fallback"
    assert "no shipped int8 file is verified on aarch64 asimddp" in choice.reason


def test_a_tflite_file_needs_an_interpreter(models_dir):
    choice = models.choose_default_model(cpu_class=VNNI, models_dir=models_dir, table=measured_table(), litert=False)
    assert choice.path == models_dir / "catdog_int8.onnx" and "no TFLite interpreter" in choice.reason


def test_a_missing_or_broken_table_reads_as_empty(tmp_path):
    assert models.read_speed_table(tmp_path) == {}
    (tmp_path / models.SPEED_TABLE_NAME).write_text("{not json")
    assert models.read_speed_table(tmp_path) == {}


def test_the_shipped_table_names_every_class_it_orders(tmp_path):
    table = models.read_speed_table()
    if not table:
        pytest.skip("no speed_by_class.json shipped in this tree")
    for name, entry in table["classes"].items():
        assert set(entry["order"]) <= set(models.DEFAULT_ORDER), name
        assert entry["measured_natively"] or "not measured natively" in entry["speed"], name


def test_catdog_run_says_which_file_it_picked_and_model_wins(models_dir, tmp_path, monkeypatch):
    from catdog.runtime.cli import main

    monkeypatch.setattr(models, "MODELS_DIR", models_dir)
    monkeypatch.setattr(models, "litert_available", lambda: False)
    photo = write_colour_images(tmp_path / "photos", count=1)[0]
    result = CliRunner().invoke(main, [str(photo), "--verbose"])
    assert result.exit_code == 0, result.output
    assert "model: catdog_" in result.stderr and "; model catdog_" in result.stderr
    named = CliRunner().invoke(main, [str(photo), "--model", str(models_dir / "catdog_fp32.onnx")])
    assert named.exit_code == 0 and "model catdog_" not in named.stderr


def test_classifier_records_its_choice(models_dir, monkeypatch):
    from catdog.runtime.classifier import Classifier

    monkeypatch.setattr(models, "MODELS_DIR", models_dir)
    monkeypatch.setattr(models, "litert_available", lambda: False)
    classifier = Classifier()
    assert classifier.model_choice is not None and classifier.model_path == classifier.model_choice.path
    assert Classifier(models_dir / "catdog_fp32.onnx").model_choice is None


def test_without_the_float_file_an_unverified_pick_says_so(models_dir):
    (models_dir / "catdog_fp32.onnx").unlink()
    choice = models.choose_default_model(cpu_class="aarch64", models_dir=models_dir, table={}, litert=False)
    assert choice.path == models_dir / "catdog_int8.onnx" and choice.basis == "unverified"
    assert "NOT verified" in choice.describe()
