"""One inference engine per model file: LiteRT for .tflite, onnxruntime for .onnx, Keras for .keras.

Every engine takes an (N, H, W, 3) uint8 batch of raw pixels and returns (N, K) float32
probabilities in the order of the model's labels, so callers never care about the backend,
its input dtype, its fixed batch size or its output quantization. A 1-unit output (a legacy
catdog file, or a foreign sigmoid model) becomes the two columns [1 - p, p].

At load, the file's ModelSpec (`catdog.runtime.spec`) is checked against its real tensors and
a mismatch is refused (CatdogError, one line, exit 2). A file with no spec gets one read from
its tensors (`infer_spec`: labels `class_0 ...`), and `Engine.spec_warning` says so in one
line for the caller to show. Backends are imported inside `open_engine`, so importing this
module stays cheap and never touches TensorFlow. Export verification runs its files through
these same engines, with the same `quantize`/`dequantize`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from catdog.errors import CatdogError
from catdog.runtime.metadata import spec_from_metadata
from catdog.runtime.spec import ModelSpec, SpecError, check_tensors, infer_spec

FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras"}
RAW_PIXEL_RANGE = (0.0, 255.0)


class Engine:
    """A loaded model: `.predict(uint8 batch) -> (N, K) float32 probabilities`, plus what it was exported with.

    Attributes: `spec` (the ModelSpec), `labels`, `format`, `precision`, `metadata` (the
    embedded catdog document, {} without one), `fixed_batch` (the batch size the file is
    fixed to, None when it takes any), `spec_warning` (one line when the spec was inferred).
    """

    name = "engine"
    package = ""

    def __init__(self, path: Path, *, threads: int | None, metadata: dict[str, Any]):
        self.path = Path(path)
        self.format = FORMATS[self.path.suffix.lower()]
        self.threads = threads
        self.metadata = metadata
        # None until the subclass has read its tensors, when a file carries no spec of its own.
        self.spec: ModelSpec | None = spec_from_metadata(metadata)
        self.precision = metadata.get("precision") or "fp32"
        self.fixed_batch: int | None = None
        self.spec_warning: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's label names, in output index order."""
        return self.spec.labels

    def _settle_spec(self, *, input_shape: Sequence[Any], output_shape: Sequence[Any], input_dtype: Any) -> None:
        """Check the spec against the tensors, or infer it from them when the file has none.

        Raises SpecError when the tensors cannot serve the spec, or cannot take an RGB image.
        """
        name = self.path.name
        if np.dtype(input_dtype).kind not in "fiu":
            raise SpecError(f"{name}: its input type {np.dtype(input_dtype).name} is not an image type "
                            "(float, uint8 or int8)")
        dims = [None if size is None or int(size) < 0 else int(size) for size in input_shape]
        if self.spec is None:
            self.spec = infer_spec(input_shape=dims, output_shape=output_shape, name=name)
            height, width = self.spec.image_size
            self.spec_warning = (f"{name} carries no catdog metadata: input {height}x{width} and "
                                 f"{self.spec.num_classes} labels read from its tensors, named "
                                 f"{self.spec.labels[0]}..{self.spec.labels[-1]}")
        else:
            check_tensors(self.spec, input_shape=dims, output_shape=output_shape, name=name)
        # A file exported with a fixed batch dimension is fed slices of exactly that size.
        self.fixed_batch = dims[0] if dims and dims[0] is not None and dims[0] > 0 else None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Return (N, K) float32 probabilities in label order for an (N, H, W, 3) uint8 batch.

        One (H, W, 3) image counts as a batch of one. Raises ValueError for another shape.
        """
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"expected an (N, H, W, 3) uint8 batch, got shape {batch.shape}")
        count = len(batch)
        if count == 0:
            return np.zeros((0, self.spec.num_classes), dtype=np.float32)
        pixels = scale_pixels(np.ascontiguousarray(batch, dtype=np.uint8), pixel_range=self.spec.pixel_range)
        if self.fixed_batch is None:
            raw = np.asarray(self._run(pixels)).reshape(count, -1)
        else:
            raw = self._run_fixed(pixels)
        return as_class_probabilities(raw, num_classes=self.spec.num_classes)

    def _run_fixed(self, batch: np.ndarray) -> np.ndarray:
        """Run a model whose batch size is fixed: slices of that size, the last padded with zeros."""
        size = self.fixed_batch
        outputs = []
        for start in range(0, len(batch), size):
            chunk = batch[start:start + size]
            filled = len(chunk)
            if filled < size:
                chunk = np.concatenate([chunk, np.zeros((size - filled, *chunk.shape[1:]), dtype=chunk.dtype)])
            outputs.append(np.asarray(self._run(chunk)).reshape(size, -1)[:filled])
        return np.concatenate(outputs)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Name the engine, its version and thread count, and the model it runs."""
        import importlib.metadata  # only here: importing it costs a one-image run ~20 ms

        try:
            version = importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return {"engine": self.name, "version": version, "threads": self.threads,
                "model": str(self.path), "format": self.format, "precision": self.precision}


def as_class_probabilities(values: np.ndarray, *, num_classes: int) -> np.ndarray:
    """Turn a model's (N, units) output into (N, K) float32 probabilities in label order.

    One unit is a sigmoid's P(labels[1]) and becomes [1 - p, p] (K must be 2); K units are
    taken as they are. Raises ValueError for any other width.
    """
    values = np.asarray(values, dtype=np.float32)
    values = values.reshape(len(values), -1)
    if values.shape[1] == 1 and num_classes == 2:
        return np.concatenate([1.0 - values, values], axis=1)
    if values.shape[1] != num_classes:
        raise ValueError(f"the model gave {values.shape[1]} outputs per image for {num_classes} labels")
    return values


def scale_pixels(batch: np.ndarray, *, pixel_range: Sequence[float]) -> np.ndarray:
    """Map raw 0..255 pixels to the range a model expects (ModelSpec.pixel_range).

    Returns the uint8 batch itself for (0, 255), every exported file's range; otherwise float32
    `low + pixel * (high - low) / 255`.
    """
    low, high = (float(value) for value in pixel_range)
    if (low, high) == RAW_PIXEL_RANGE:
        return batch
    return (batch.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)).astype(np.float32)


def quantize(batch: np.ndarray, *, dtype: Any, scale: float, zero_point: int) -> np.ndarray:
    """Convert pixels (uint8, or floats from `scale_pixels`) to what an input tensor expects.

    Float inputs get a cast; integer inputs get `round(value / scale + zero_point)`, clipped
    to the dtype (TFLite's affine quantization; a scale of 0 means "not quantized").
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return batch.astype(dtype)
    if dtype == np.uint8 and batch.dtype == np.uint8 and (scale in (0.0, 1.0)) and zero_point == 0:
        return batch  # the int8 export takes raw pixels directly: no copy, no rounding
    values = batch.astype(np.float32) if scale == 0.0 else batch.astype(np.float32) / scale + zero_point
    limits = np.iinfo(dtype)
    return np.clip(np.round(values), limits.min, limits.max).astype(dtype)


def dequantize(values: np.ndarray, *, scale: float, zero_point: int) -> np.ndarray:
    """Turn a quantized integer output back into float32: `(value - zero_point) * scale`."""
    if values.dtype.kind == "f" or scale == 0.0:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * np.float32(scale)


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what C++ code writes to file descriptor 2 inside the block, replaying it if the block fails.

    LiteRT announces "INFO: Created TensorFlow Lite XNNPACK delegate" on every first
    allocation, which would land between a user's results and the run summary.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class LiteRTEngine(Engine):
    """A TFLite model on ai-edge-litert (or tflite-runtime): one interpreter, resized per batch size."""

    def __init__(self, path: Path, *, threads: int | None, metadata: dict[str, Any]):
        super().__init__(path, threads=threads, metadata=metadata)
        try:
            from ai_edge_litert.interpreter import Interpreter
            self.name, self.package = "ai-edge-litert", "ai-edge-litert"
        except ImportError:
            try:
                from tflite_runtime.interpreter import Interpreter
                self.name, self.package = "tflite-runtime", "tflite-runtime"
            except ImportError:
                raise CatdogError(f"cannot run {path}: no TFLite interpreter installed: "
                                  "pip install ai-edge-litert, or use an .onnx model") from None
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        with native_stderr_silenced():
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch_size = int(self.input["shape"][0])
        # A model exported with a fixed batch dimension gets fixed-size slices from Engine.predict.
        signature = self.input.get("shape_signature")
        self.resizable = signature is None or len(signature) == 0 or int(signature[0]) == -1
        shape = signature if signature is not None and len(signature) else self.input["shape"]
        self._settle_spec(input_shape=[int(size) for size in shape],
                          output_shape=[int(size) for size in self.output["shape"]], input_dtype=self.input["dtype"])
        if "precision" not in metadata and np.dtype(self.input["dtype"]).kind in "iu":
            self.precision = "int8"
        input_dtype, (input_scale, input_zero_point) = np.dtype(self.input["dtype"]), self.input["quantization"]
        self._raw_input = input_dtype.kind == "f" or (
            input_dtype == np.uint8 and input_scale in (0.0, 1.0) and input_zero_point == 0)
        # Views into the interpreter's own tensors: the input is written in place (no set_tensor
        # copy) and the output dequantized straight from it (no get_tensor copy). Only the accessors
        # are kept, never a view: a live view would make invoke() refuse to run.
        self._input_view = self.interpreter.tensor(self.input["index"])
        self._output_view = self.interpreter.tensor(self.output["index"])

    def _resize(self, batch_size: int) -> None:
        # Resizing re-plans the interpreter's memory, so it happens only when the batch size changes.
        shape = [batch_size, *[int(size) for size in self.input["shape"][1:]]]
        self.interpreter.resize_tensor_input(self.input["index"], shape)
        self.interpreter.allocate_tensors()
        self.batch_size = batch_size

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) != self.batch_size:
            if not self.resizable and self.batch_size == 1:
                return np.concatenate([self._run(batch[index:index + 1]).reshape(-1) for index in range(len(batch))])
            self._resize(len(batch))
        if self._raw_input:
            self._input_view()[...] = batch  # raw 0..255 pixels, or a float input (cast on assignment)
        else:
            scale, zero_point = self.input["quantization"]
            self._input_view()[...] = quantize(batch, dtype=self.input["dtype"], scale=scale, zero_point=zero_point)
        self.interpreter.invoke()
        scale, zero_point = self.output["quantization"]
        return dequantize(self._output_view(), scale=scale, zero_point=zero_point)


ONNX_TYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
              "tensor(float16)": np.float16, "tensor(double)": np.float64}


class OnnxEngine(Engine):
    """An ONNX model on onnxruntime's CPU provider."""

    name, package = "onnxruntime", "onnxruntime"

    def __init__(self, path: Path, *, threads: int | None, metadata: dict[str, Any]):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning worker threads would steal the cores that decode images in folder mode.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        if not metadata:
            # Fall back to the session's own copy of the embedded metadata.
            text = self.session.get_modelmeta().custom_metadata_map.get("catdog")
            metadata = json.loads(text) if text else {}
        super().__init__(path, threads=threads, metadata=metadata)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_dtype = ONNX_TYPES.get(model_input.type)
        if self.input_dtype is None:
            raise SpecError(f"{path.name}: its input type {model_input.type} is not an image type "
                            "(float, uint8 or int8)")
        self.input_quantization = (metadata.get("input") or {}).get("quantization") or {}
        self.output_quantization = (metadata.get("output") or {}).get("quantization") or {}
        self._settle_spec(input_shape=[size if isinstance(size, int) else None for size in model_input.shape],
                          output_shape=[size if isinstance(size, int) else None
                                        for size in self.session.get_outputs()[0].shape],
                          input_dtype=self.input_dtype)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        feed = quantize(batch, dtype=self.input_dtype, scale=float(self.input_quantization.get("scale", 1.0)),
                        zero_point=int(self.input_quantization.get("zero_point", 0)))
        output = self.session.run(None, {self.input_name: feed})[0]
        return dequantize(output, scale=float(self.output_quantization.get("scale", 1.0)),
                          zero_point=int(self.output_quantization.get("zero_point", 0)))


class KerasEngine(Engine):
    """The original Keras model through TensorFlow, for parity checks against the exported files."""

    name, package = "tensorflow", "tensorflow"

    def __init__(self, path: Path, *, threads: int | None, metadata: dict[str, Any]):
        from catdog.errors import require_tensorflow

        tf = require_tensorflow()
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        import keras

        super().__init__(path, threads=threads, metadata=metadata)
        self.model = keras.models.load_model(path, compile=False)
        from catdog.runtime.spec import read_card_spec

        self.spec = read_card_spec(path)
        self._settle_spec(input_shape=self.model.input_shape, output_shape=self.model.output_shape,
                          input_dtype=np.float32)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(batch.astype(np.float32), training=False))


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
