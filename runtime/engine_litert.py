"""The LiteRT backend: runs .tflite files on ai-edge-litert (or tflite-runtime), never TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from catdog.errors import CatdogError
from catdog.runtime.engine_base import Engine
from catdog.runtime.metadata import read_standard_labels
from catdog.runtime.native_stderr import native_stderr_silenced
from catdog.runtime.tensors import dequantize, quantize


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
        # The signature says -1 for a dynamic batch. A file with a fixed batch (or an interpreter that
        # reports no signature) gets slices of exactly that size from Engine.predict, so _run only
        # resizes for a dynamic batch.
        signature = self.input.get("shape_signature")
        shape = signature if signature is not None and len(signature) else self.input["shape"]
        # A foreign file without catdog's entry may still name its labels in standard TFLite Metadata.
        standard_labels = read_standard_labels(self.path.read_bytes()) if self.spec is None else None
        self._settle_spec(input_shape=[int(size) for size in shape],
                          output_shape=[int(size) for size in self.output["shape"]], input_dtype=self.input["dtype"],
                          standard_labels=standard_labels)
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
            self._resize(len(batch))
        if self._raw_input:
            self._input_view()[...] = batch  # raw 0..255 pixels, or a float input (cast on assignment)
        else:
            scale, zero_point = self.input["quantization"]
            self._input_view()[...] = quantize(batch, dtype=self.input["dtype"], scale=scale, zero_point=zero_point)
        self.interpreter.invoke()
        scale, zero_point = self.output["quantization"]
        return dequantize(self._output_view(), scale=scale, zero_point=zero_point)
