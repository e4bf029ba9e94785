"""The Keras backend: runs a .keras file through TensorFlow, for parity checks and bench baselines.

TensorFlow is imported only when a KerasEngine is created; the runtime never does so itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from catdog.runtime.engine_base import Engine


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
