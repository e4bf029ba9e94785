"""Tests for catdog.runtime.metadata: the pure-Python reader of embedded TFLite and ONNX metadata.

`tests/data/metadata_fixture.tflite` (1 KB) is a 4-input Dense model converted by TensorFlow's
TFLite converter and given a "catdog" entry by `catdog.export.artifact.embed_tflite_metadata`
(the converter's own "min_runtime_version" and "CONVERSION_METADATA" entries come first, so
the reader has to search). No test here needs TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catdog.runtime.metadata import (METADATA_KEY, STANDARD_METADATA_NAME, MetadataError, read_metadata, read_onnx_metadata,
                                    read_standard_labels, read_tflite_metadata)

FIXTURE = Path(__file__).parent / "data" / "metadata_fixture.tflite"


def test_tflite_metadata_is_found_among_the_converters_entries():
    metadata = read_metadata(FIXTURE)
    assert metadata["schema"] == 1
    assert metadata["labels"] == ["cat", "dog"]
    assert metadata["precision"] == "fp32"


def test_tflite_entry_with_another_name_is_absent():
    assert read_tflite_metadata(FIXTURE.read_bytes(), name="no-such-entry") is None


def test_tflite_converter_entry_is_readable_by_name():
    # The converter's own entry proves the reader follows buffer indices, not just the last buffer.
    assert read_tflite_metadata(FIXTURE.read_bytes(), name="min_runtime_version")


def test_truncated_tflite_raises_metadata_error(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(FIXTURE.read_bytes()[:40])
    with pytest.raises(MetadataError):
        read_metadata(broken)


def test_keras_and_other_files_have_no_embedded_metadata(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"PK")
    with pytest.raises(MetadataError, match="only .tflite and .onnx"):
        read_metadata(model)


def _tiny_onnx(path: Path, *, metadata: dict | None) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "tiny",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, {"other": "x" * 300, **({METADATA_KEY: json.dumps(metadata)} if metadata else {})})
    onnx.save(model, path)
    return path


def test_onnx_metadata_props_are_read(tmp_path):
    path = _tiny_onnx(tmp_path / "tiny.onnx", metadata={"schema": 1, "format": "onnx", "labels": ["cat", "dog"]})
    assert read_metadata(path) == {"schema": 1, "format": "onnx", "labels": ["cat", "dog"]}


def test_onnx_without_catdog_entry_names_the_fix(tmp_path):
    path = _tiny_onnx(tmp_path / "plain.onnx", metadata=None)
    assert read_onnx_metadata(path.read_bytes()) is None
    with pytest.raises(MetadataError, match="catdog-export"):
        read_metadata(path)


def test_reader_matches_onnxruntime(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    path = _tiny_onnx(tmp_path / "tiny.onnx", metadata={"schema": 1})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert json.loads(session.get_modelmeta().custom_metadata_map[METADATA_KEY]) == read_metadata(path)


def test_reader_imports_no_tensorflow_or_onnx():
    code = ("import sys; from catdog.runtime.metadata import read_metadata; "
            f"assert read_metadata({str(FIXTURE)!r})['schema'] == 1; "
            "assert not {'tensorflow', 'onnx', 'flatbuffers'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


SHIPPED_INT8 = Path(__file__).parent.parent / "runtime" / "models" / "catdog_int8.tflite"


def test_standard_tflite_metadata_labels_are_read_without_tensorflow():
    # The shipped int8 file carries the standard TFLite Metadata (as MediaPipe reads it) beside catdog's entry.
    data = SHIPPED_INT8.read_bytes()
    # Both carry the labels of the training card beside the shipped Keras model (its class folders' names).
    card = json.loads((SHIPPED_INT8.parent / "card.json").read_text())
    assert read_standard_labels(data) == read_metadata(SHIPPED_INT8)["labels"] == card["model_spec"]["labels"]
    assert read_tflite_metadata(data, name=STANDARD_METADATA_NAME)[4:8] == b"M001"


def test_file_without_standard_metadata_has_no_standard_labels():
    assert read_standard_labels(FIXTURE.read_bytes()) is None
    assert read_standard_labels(b"not a model") is None
