"""The onnxruntime backend: runs .onnx files on onnxruntime's CPU provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from catdog.runtime.engine_base import Engine
from catdog.runtime.spec import SpecError
from catdog.runtime.tensors import dequantize, quantize

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
