"""The engine base class: one loaded model, raw uint8 pixels in, (N, K) probabilities out.

`Engine` holds what every backend shares: the file's ModelSpec (checked against its real
tensors, or inferred from them when the file carries none), pixel scaling, fixed-batch slicing
and turning raw outputs into probabilities in label order. Backends (`engine_litert`,
`engine_onnx`, `engine_keras`) only load their runtime and run one batch (`_run`);
`catdog.runtime.engine.open_engine` picks one by the file's suffix (`FORMATS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catdog.runtime.metadata import spec_from_metadata
from catdog.runtime.spec import ModelSpec, SpecError, check_tensors, infer_spec, known_dims
from catdog.runtime.tensors import as_class_probabilities, scale_pixels

# The one format registry: model file suffix -> format name (the backends are in catdog.runtime.engine).
FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras"}


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

    def _settle_spec(self, *, input_shape: Sequence[Any], output_shape: Sequence[Any], input_dtype: Any,
                     standard_labels: Sequence[str] | None = None) -> None:
        """Check the spec against the tensors, or infer it from them when the file has none.

        `standard_labels` are a foreign file's own label names (a .tflite's standard TFLite
        Metadata): used for an inferred spec when there are exactly K of them, with no warning.
        Raises SpecError when the tensors cannot serve the spec, or cannot take an RGB image.
        """
        name = self.path.name
        if np.dtype(input_dtype).kind not in "fiu":
            raise SpecError(f"{name}: its input type {np.dtype(input_dtype).name} is not an image type "
                            "(float, uint8 or int8)")
        dims = known_dims(input_shape)
        if self.spec is None:
            self.spec = infer_spec(input_shape=dims, output_shape=output_shape, name=name)
            if standard_labels and len(standard_labels) == self.spec.num_classes:
                self.spec = self.spec.replace(labels=tuple(standard_labels))
            else:
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
