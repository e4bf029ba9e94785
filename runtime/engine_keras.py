"""The Keras backend: runs a .keras file through TensorFlow, for parity checks and bench baselines.

TensorFlow is imported only when a KerasEngine is created; the runtime never does so itself.
The engine feeds the model pixels in the range its catdog training card names; a model with
no card must scale its own input (a leading Rescaling or Normalization layer, which takes raw
0..255 pixels), else its pixel range is unknown and the engine refuses it rather than feed
it raw pixels it may never have seen.
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

        # The card's pixel_range is applied by Engine.predict (scale_pixels) like any spec's.
        self.spec = read_card_spec(path)
        if self.spec is None:
            self._require_own_scaling()
        self._settle_spec(input_shape=self.model.input_shape, output_shape=self.model.output_shape,
                          input_dtype=np.float32)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(batch.astype(np.float32), training=False))

    def _require_own_scaling(self) -> None:
        """Raise CatdogError (exit 2) unless the model starts with its own Rescaling/Normalization layer."""
        # export/ is importable here: this engine needs TensorFlow anyway, and `catdog.runtime` stays TF-free.
        from catdog.errors import CatdogError
        from catdog.export.contract import leading_scaling_layer

        if leading_scaling_layer(self.model) is None:
            raise CatdogError(f"{self.path.name} has no catdog card beside it and no leading Rescaling or "
                              "Normalization layer, so its pixel range is unknown: export it with "
                              f"`catdog-export {self.path} --pixel-range 0,1|-1,1|0,255` and run the exported file")
