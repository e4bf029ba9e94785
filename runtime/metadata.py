"""Read the catdog metadata embedded in an exported .tflite or .onnx file, in pure Python.

`catdog-export` writes one JSON document into every model it exports: for TFLite as a
metadata entry named "catdog" inside the flatbuffer, for ONNX as the `metadata_props` key
"catdog". The runtime reads it back here without TensorFlow, the `onnx` package or any
generated schema code: a few dozen lines of `struct` walk the flatbuffer, and a minimal
protobuf scan reads the ONNX model's top-level fields.

TFLite files also carry the standard TFLite Metadata ("TFLITE_METADATA": a ModelMetadata
flatbuffer plus associated files packed after the model as a zip archive), which MediaPipe and
TFLite Support read. `read_standard_labels` reads the output tensor's TENSOR_AXIS_LABELS file
from it, so a classifier exported by other tools (e.g. TFLite Model Maker) keeps its labels.

The document (schema 2) holds `model_spec` (`ModelSpec.to_dict()`, the contract), `labels`
(a copy of the spec's, for other readers), `input` and `output` (name, dtype, shape or meaning,
quantization), `format`, `precision`, `source_sha256`, `export_options` and `catdog_version`.
Schema 1 files (catdog 0.1) held `preprocessing` instead of `model_spec`; `spec_from_metadata`
reads both.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

METADATA_KEY = "catdog"
SCHEMA_VERSION = 2
# The standard TFLite Metadata (tensorflow/lite/schema/metadata_schema.fbs, as read by TFLite
# Support and MediaPipe): its model entry name, and the label file catdog attaches to the output.
STANDARD_METADATA_NAME = "TFLITE_METADATA"
LABEL_FILE_NAME = "labels.txt"
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType.TENSOR_AXIS_LABELS

# Field indices in the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs).
_MODEL_BUFFERS = 4
_MODEL_METADATA = 6
_METADATA_NAME = 0
_METADATA_BUFFER = 1
_BUFFER_DATA = 0
_BUFFER_OFFSET = 1
_BUFFER_SIZE = 2

# Field numbers in onnx.proto's ModelProto and StringStringEntryProto.
_ONNX_METADATA_PROPS = 14
_ONNX_ENTRY_KEY = 1
_ONNX_ENTRY_VALUE = 2


class MetadataError(ValueError):
    """The file is not a model this reader understands, or carries no catdog metadata."""


def read_metadata(model_path) -> dict[str, Any]:
    """Return the catdog metadata dict of a .tflite or .onnx file.

    Raises MetadataError if the file has no "catdog" entry or cannot be parsed, and
    OSError if it cannot be read. `.keras` files carry no metadata: their spec is in the
    training card beside them (`catdog.runtime.spec.read_card_spec`).
    """
    path = Path(model_path)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        raw = read_tflite_metadata(path.read_bytes(), name=METADATA_KEY)
    elif suffix == ".onnx":
        raw = read_onnx_metadata(path.read_bytes(), key=METADATA_KEY)
    else:
        raise MetadataError(f"{path.name}: only .tflite and .onnx files carry catdog metadata")
    if raw is None:
        raise MetadataError(f"{path.name} has no '{METADATA_KEY}' metadata: re-export it with catdog-export")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataError(f"{path.name}: the '{METADATA_KEY}' metadata is not valid JSON ({error})") from None


# --- TFLite: a hand-written flatbuffer walk -------------------------------------------------


def _u32(data: bytes, position: int) -> int:
    return struct.unpack_from("<I", data, position)[0]


def _table_field(data: bytes, table: int, field: int) -> int | None:
    """Return the absolute position of a table's field, or None if the field is absent."""
    vtable = table - struct.unpack_from("<i", data, table)[0]
    vtable_size = struct.unpack_from("<H", data, vtable)[0]
    entry = 4 + 2 * field
    if entry + 2 > vtable_size:
        return None
    offset = struct.unpack_from("<H", data, vtable + entry)[0]
    return table + offset if offset else None


def _follow(data: bytes, position: int) -> int:
    """Follow the unsigned offset stored at `position` (to a table, vector or string)."""
    return position + _u32(data, position)


def _vector(data: bytes, position: int) -> tuple[int, int]:
    """Return (first element position, length) of the vector referenced from `position`."""
    start = _follow(data, position)
    return start + 4, _u32(data, start)


def read_tflite_metadata(data: bytes, *, name: str = METADATA_KEY) -> bytes | None:
    """Return the bytes of the buffer that the model's metadata entry `name` points to, or None."""
    try:
        model = _u32(data, 0)
        metadata_field = _table_field(data, model, _MODEL_METADATA)
        buffers_field = _table_field(data, model, _MODEL_BUFFERS)
        if metadata_field is None or buffers_field is None:
            return None
        entries, entry_count = _vector(data, metadata_field)
        buffers, buffer_count = _vector(data, buffers_field)
        for index in range(entry_count):
            entry = _follow(data, entries + 4 * index)
            name_field = _table_field(data, entry, _METADATA_NAME)
            if name_field is None:
                continue
            text_start, text_length = _vector(data, name_field)
            if data[text_start:text_start + text_length].decode("utf-8", "replace") != name:
                continue
            buffer_field = _table_field(data, entry, _METADATA_BUFFER)
            buffer_index = _u32(data, buffer_field) if buffer_field is not None else 0
            if buffer_index >= buffer_count:
                raise MetadataError(f"metadata '{name}' points at buffer {buffer_index} of {buffer_count}")
            return _buffer_bytes(data, _follow(data, buffers + 4 * buffer_index))
    except (struct.error, IndexError) as error:
        raise MetadataError(f"not a readable TFLite flatbuffer ({error})") from None
    return None


def _buffer_bytes(data: bytes, buffer: int) -> bytes:
    """Return a Buffer's bytes, stored inline or (for files over 2 GB) at an offset in the file."""
    data_field = _table_field(data, buffer, _BUFFER_DATA)
    if data_field is not None:
        start, length = _vector(data, data_field)
        if length:
            return bytes(data[start:start + length])
    offset_field = _table_field(data, buffer, _BUFFER_OFFSET)
    size_field = _table_field(data, buffer, _BUFFER_SIZE)
    if offset_field is not None and size_field is not None:
        offset = struct.unpack_from("<Q", data, offset_field)[0]
        size = struct.unpack_from("<Q", data, size_field)[0]
        if offset > 1:
            return bytes(data[offset:offset + size])
    return b""


# Field indices in metadata_schema.fbs (tables only on this path: no union shifts them).
_MODEL_METADATA_SUBGRAPHS = 3
_SUBGRAPH_OUTPUT_TENSORS = 3
_TENSOR_ASSOCIATED_FILES = 6  # name, description, dimension_names, content, process_units, stats, files
_FILE_NAME = 0
_FILE_TYPE = 2


def _string(data: bytes, position: int) -> str:
    start, length = _vector(data, position)
    return bytes(data[start:start + length]).decode("utf-8", "replace")


def _table_vector(data: bytes, table: int, field: int) -> list[int]:
    """Positions of the tables in a vector-of-tables field (empty when the field is absent)."""
    position = _table_field(data, table, field)
    if position is None:
        return []
    start, length = _vector(data, position)
    return [_follow(data, start + 4 * index) for index in range(length)]


def read_standard_labels(data: bytes) -> list[str] | None:
    """Labels of a TFLite file's first output, from its standard TFLite Metadata, or None.

    Follows ModelMetadata.subgraph_metadata[0].output_tensor_metadata[0].associated_files to
    the first TENSOR_AXIS_LABELS file and reads it (one label per line) from the zip archive
    packed after the flatbuffer. Returns None when any part is missing or unreadable.
    """
    import io
    import zipfile

    try:
        buffer = read_tflite_metadata(data, name=STANDARD_METADATA_NAME)
        if not buffer:
            return None
        root = _u32(buffer, 0)
        subgraphs = _table_vector(buffer, root, _MODEL_METADATA_SUBGRAPHS)
        outputs = _table_vector(buffer, subgraphs[0], _SUBGRAPH_OUTPUT_TENSORS) if subgraphs else []
        files = _table_vector(buffer, outputs[0], _TENSOR_ASSOCIATED_FILES) if outputs else []
        for entry in files:
            type_field = _table_field(buffer, entry, _FILE_TYPE)
            name_field = _table_field(buffer, entry, _FILE_NAME)
            if type_field is None or name_field is None or buffer[type_field] != _TENSOR_AXIS_LABELS:
                continue
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                text = archive.read(_string(buffer, name_field)).decode("utf-8")
            labels = [line.strip() for line in text.splitlines() if line.strip()]
            return labels or None
    except (MetadataError, struct.error, IndexError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    return None


# --- ONNX: a minimal protobuf scan of ModelProto ----------------------------------------------


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if position >= len(data):
            raise MetadataError("truncated protobuf varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes):
    """Yield (field number, wire type, value) for one protobuf message; length-delimited values are bytes."""
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 1:
            value, position = data[position:position + 8], position + 8
        elif wire_type == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire_type == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise MetadataError(f"unsupported protobuf wire type {wire_type}")
        if position > len(data):
            raise MetadataError("truncated protobuf field")
        yield number, wire_type, value


def read_onnx_metadata(data: bytes, *, key: str = METADATA_KEY) -> str | None:
    """Return the value of ModelProto.metadata_props[key] as text, or None if absent."""
    view = memoryview(data)
    for number, wire_type, value in _fields(view):
        if number != _ONNX_METADATA_PROPS or wire_type != 2:
            continue
        entry = {entry_number: bytes(entry_value) for entry_number, entry_type, entry_value in _fields(value)
                 if entry_type == 2}
        if entry.get(_ONNX_ENTRY_KEY, b"").decode("utf-8", "replace") == key:
            return entry.get(_ONNX_ENTRY_VALUE, b"").decode("utf-8")
    return None


def spec_from_metadata(metadata: dict[str, Any]):
    """The ModelSpec an exported file carries, or None when its metadata names none.

    Schema 2 stores `model_spec`; schema 1 files (catdog 0.1) stored `preprocessing` and
    `labels` for a sigmoid model, which are read as the same contract. Raises SpecError
    (a ValueError) when the stored spec is invalid.
    """
    from catdog.runtime.spec import ModelSpec

    if isinstance(metadata.get("model_spec"), dict):
        return ModelSpec.from_dict(metadata["model_spec"])
    legacy = metadata.get("preprocessing")
    if isinstance(legacy, dict) and (metadata.get("labels") or legacy.get("labels")):
        return ModelSpec.from_dict({**legacy, "labels": metadata.get("labels") or legacy["labels"], "output": "sigmoid"})
    return None
