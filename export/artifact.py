"""Self-describing artifacts: build the catdog metadata, embed it in a model, write files atomically.

The metadata schema is the shared interface documented in `catdog.runtime.metadata`, which
reads it back without TensorFlow. TFLite files get a flatbuffer metadata entry named
"catdog" pointing at a buffer of UTF-8 JSON (written with the schema's object API, which
TensorFlow ships as `tensorflow.lite.tools.flatbuffer_utils`) and the standard TFLite
Metadata (`catdog.export.tflite_metadata`); ONNX files get the `metadata_props` key "catdog"
plus the contract's fields under their own keys (labels, image_size, pixel_range, ...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

import catdog
from catdog.runtime.metadata import LABEL_FILE_NAME, METADATA_KEY, SCHEMA_VERSION, STANDARD_METADATA_NAME
from catdog.runtime.spec import ModelSpec


def build_metadata(*, model_format: str, precision: str, tensors: dict[str, dict], spec: ModelSpec,
                   extra: dict[str, Any]) -> dict[str, Any]:
    """The metadata dict (schema 2) one exported file carries; `model_spec` is the contract.

    `extra` adds the source's facts (source_model, source_sha256, source_output,
    source_pixel_range, export_options, ...), INTERFACES item 5.
    """
    return {
        "schema": SCHEMA_VERSION,
        "model_spec": spec.to_dict(),
        "labels": list(spec.labels),
        "input": {**tensors["input"], "shape": [None, *spec.input_shape], "layout": spec.layout,
                  "meaning": "raw RGB pixel values 0..255; any scaling is inside the model"},
        "output": {**tensors["output"], "shape": [None, spec.num_classes],
                   "meaning": "probabilities of the labels, in label order"},
        "format": model_format,
        "precision": precision,
        **extra,
        "catdog_version": catdog.__version__,
    }


def metadata_json(metadata: dict[str, Any]) -> bytes:
    """Compact, key-sorted UTF-8 JSON, so the same export writes the same bytes."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode("utf-8")


def embed_tflite_metadata(model_bytes: bytes, metadata: dict[str, Any], *, spec: ModelSpec) -> bytes:
    """Return the flatbuffer with catdog's "catdog" entry and the standard TFLite Metadata.

    The standard part ("TFLITE_METADATA" plus the label file packed after the flatbuffer) is
    what TFLite Support and MediaPipe read; see `catdog.export.tflite_metadata`.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    from catdog.export import tflite_metadata

    float_input = metadata["input"]["dtype"].startswith("float")
    standard = tflite_metadata.build_model_metadata(
        spec, float_input=float_input, name=f"{spec.num_classes}-class image classifier",
        description=(f"Classifies an RGB image into {', '.join(spec.labels)}; exported by catdog-export "
                     f"({metadata['format']} {metadata['precision']}) from {metadata.get('source_model', 'a Keras model')}."),
        version=str(metadata.get("source_sha256", ""))[:12] or "1")
    entries = {METADATA_KEY: metadata_json(metadata), STANDARD_METADATA_NAME: standard}
    schema = flatbuffer_utils.schema_fb
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    # Entries of these names from an earlier export would shadow the new ones for first-match readers.
    kept = [item for item in (model.metadata or []) if _entry_name(item) not in entries]
    for name, data in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data, dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        kept.append(entry)
    model.metadata = kept
    flat = bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    return tflite_metadata.attach_associated_files(flat, {LABEL_FILE_NAME: tflite_metadata.label_file(spec)})


def _entry_name(entry) -> str:
    name = entry.name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def onnx_properties(metadata: dict[str, Any]) -> dict[str, str]:
    """The ONNX metadata_props catdog writes: the whole document under "catdog", and the contract's
    fields on their own keys (JSON values) for readers that know nothing of catdog."""
    spec = metadata["model_spec"]
    return {
        METADATA_KEY: metadata_json(metadata).decode("utf-8"),
        "labels": json.dumps(spec["labels"]),
        "image_size": json.dumps(spec["image_size"]),
        "pixel_range": json.dumps(spec["pixel_range"]),
        "channels": spec["channels"],
        "layout": spec["layout"],
        "output": spec["output"],
        "resize": spec["resize"],
    }


def embed_onnx_metadata(model_proto, metadata: dict[str, Any]) -> bytes:
    """Return the serialized ONNX model with `onnx_properties(metadata)` in its metadata_props."""
    properties = onnx_properties(metadata)
    for index in reversed(range(len(model_proto.metadata_props))):
        if model_proto.metadata_props[index].key in properties:
            del model_proto.metadata_props[index]
    for key, value in properties.items():
        entry = model_proto.metadata_props.add()
        entry.key = key
        entry.value = value
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
