"""Self-describing artifacts: build the catdog metadata, embed it in a model, write files atomically.

The metadata schema is the shared interface documented in `catdog.runtime.metadata`, which
reads it back without TensorFlow. TFLite files get a flatbuffer metadata entry named
"catdog" pointing at a buffer of UTF-8 JSON (written with the schema's object API, which
TensorFlow ships as `tensorflow.lite.tools.flatbuffer_utils`); ONNX files get the
`metadata_props` key "catdog".
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

import catdog
from catdog.runtime.metadata import METADATA_KEY, SCHEMA_VERSION
from catdog.runtime.spec import ModelSpec


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_metadata(*, model_format: str, precision: str, tensors: dict[str, dict], spec: ModelSpec,
                   source_sha256: str, export_options: dict[str, Any]) -> dict[str, Any]:
    """The metadata dict (schema 2) one exported file carries; `model_spec` is the contract."""
    return {
        "schema": SCHEMA_VERSION,
        "model_spec": spec.to_dict(),
        "labels": list(spec.labels),
        "input": {**tensors["input"], "shape": [None, *spec.input_shape], "layout": spec.layout},
        "output": {**tensors["output"], "meaning": "probability of labels[1]"},
        "format": model_format,
        "precision": precision,
        "source_sha256": source_sha256,
        "export_options": export_options,
        "catdog_version": catdog.__version__,
    }


def metadata_json(metadata: dict[str, Any]) -> bytes:
    """Compact, key-sorted UTF-8 JSON, so the same export writes the same bytes."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode("utf-8")


def embed_tflite_metadata(model_bytes: bytes, metadata: dict[str, Any]) -> bytes:
    """Return the flatbuffer with a "catdog" metadata entry (replacing any earlier one)."""
    from tensorflow.lite.tools import flatbuffer_utils

    schema = flatbuffer_utils.schema_fb
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata_json(metadata), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    # An entry of ours from an earlier export would shadow the new one for first-match readers.
    kept = [item for item in (model.metadata or []) if _entry_name(item) != METADATA_KEY]
    model.metadata = kept + [entry]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _entry_name(entry) -> str:
    name = entry.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def embed_onnx_metadata(model_proto, metadata: dict[str, Any]) -> bytes:
    """Return the serialized ONNX model with metadata_props["catdog"] set."""
    for index in reversed(range(len(model_proto.metadata_props))):
        if model_proto.metadata_props[index].key == METADATA_KEY:
            del model_proto.metadata_props[index]
    entry = model_proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = metadata_json(metadata).decode("utf-8")
    model_proto.producer_name = "catdog-export"
    model_proto.producer_version = catdog.__version__
    return model_proto.SerializeToString()


def partial_path(target: Path) -> Path:
    """The temporary name a file is written under until it has passed verification."""
    return target.with_name(f".{target.stem}.partial{target.suffix}")


def write_partial(target: Path, data: bytes) -> Path:
    """Write `data` beside `target` under a temporary name and return that name."""
    temporary = partial_path(target)
    with open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    return temporary


def discard(path: Path) -> None:
    """Remove a file if it exists."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass
