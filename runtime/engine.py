"""One inference engine per model file: LiteRT for .tflite, onnxruntime for .onnx, Keras for .keras.

Every engine takes an (N, H, W, 3) uint8 batch of raw pixels and returns (N, K) float32
probabilities in the order of the model's labels, so callers never care about the backend,
its input dtype, its fixed batch size or its output quantization. A 1-unit output (a legacy
catdog file, or a foreign sigmoid model) becomes the two columns [1 - p, p].

At load, the file's ModelSpec (`catdog.runtime.spec`) is checked against its real tensors and
a mismatch is refused (CatdogError, one line, exit 2). A file with no spec gets one read from
its tensors (`infer_spec`: labels `class_0 ...`, or a .tflite file's standard TFLite Metadata
labels), and `Engine.spec_warning` says so in one line for the caller to show. Backend
libraries are imported inside the engines' constructors, so importing this module stays cheap
and never touches TensorFlow. Export verification runs its files through these same engines,
with the same `quantize`/`dequantize`.

This module is the public face: `open_engine` and the format registry live here, and it
re-exports the pieces that live in their own modules (`engine_base`, `engine_litert`,
`engine_onnx`, `engine_keras`, `tensors`, `native_stderr`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catdog.errors import CatdogError
from catdog.runtime.engine_base import FORMATS, Engine
from catdog.runtime.engine_keras import KerasEngine
from catdog.runtime.engine_litert import LiteRTEngine
from catdog.runtime.engine_onnx import ONNX_TYPES, OnnxEngine
from catdog.runtime.platform_check import unsupported_platform
from catdog.runtime.native_stderr import native_stderr_silenced
from catdog.runtime.spec import SpecError
from catdog.runtime.tensors import RAW_PIXEL_RANGE, as_class_probabilities, dequantize, quantize, scale_pixels

__all__ = ["BACKENDS", "FORMATS", "ONNX_TYPES", "RAW_PIXEL_RANGE", "Engine", "KerasEngine", "LiteRTEngine",
           "OnnxEngine", "as_class_probabilities", "dequantize", "native_stderr_silenced", "open_engine",
           "quantize", "read_model_metadata", "scale_pixels"]

BACKENDS = {"tflite": LiteRTEngine, "onnx": OnnxEngine, "keras": KerasEngine}


def read_model_metadata(path: Path) -> dict[str, Any]:
    """Return the model's embedded catdog metadata, or {} when it has none (e.g. a .keras file)."""
    if path.suffix.lower() == ".keras":
        return {}
    try:
        from catdog.runtime.metadata import read_metadata
    except ImportError:
        return {}
    try:
        return read_metadata(path) or {}
    except CatdogError:
        raise
    except Exception:  # noqa: BLE001 - a model without metadata still runs, its spec read from its tensors
        return {}


def open_engine(model_path: str | Path, *, threads: int | None = None) -> Engine:
    """Load a model with the backend its suffix names; raise CatdogError (exit 2) if it cannot run."""
    problem = unsupported_platform()  # 32-bit ARM: no engine wheels, so say so before any import fails
    if problem:
        raise CatdogError(problem)
    path = Path(model_path)
    model_format = FORMATS.get(path.suffix.lower())
    if model_format is None:
        raise CatdogError(f"unknown model type {path.suffix or path.name!r}: "
                          f"use a {', '.join(FORMATS)} file")
    if not path.is_file():
        raise CatdogError(f"model not found: {path} (pass --model PATH, or omit it for the shipped model)")
    metadata = read_model_metadata(path)
    try:
        return BACKENDS[model_format](path, threads=threads, metadata=metadata)
    except CatdogError:
        raise
    except SpecError as error:
        # One line naming the file once: drop the "name: " the spec check starts with.
        message = str(error).removeprefix(f"{path.name}: ")
        raise CatdogError(f"cannot use model {path}: {message}") from None
    except Exception as error:  # noqa: BLE001 - any loader failure means the file is not a usable model
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CatdogError(f"cannot load model {path}: {message}") from None
