"""The Keras baseline, timed two ways: `model.predict` as a notebook calls it, and a `tf.function`.

TensorFlow is imported inside `load_keras_baseline` only, so `catdog-bench` runs (and says
so in one line) on a machine with just the runtime installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from catdog.errors import CatdogError, require_tensorflow


@dataclass
class KerasBaseline:
    """A loaded Keras model and zero-argument timing calls on preallocated inputs."""

    path: Path
    versions: dict[str, str]
    model: Any = field(repr=False)
    compiled: Callable[[Any], Any] = field(repr=False)
    spec: Any = None  # the model's ModelSpec: from its card, else from its tensors

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the model's input."""
        return self.spec.image_size

    def timing_calls(self, *, batch: int, seed: int = 0) -> dict[str, dict[str, Callable[[], object]]]:
        """Return {"predict": {"one", "batch"}, "compiled": {...}} calls on fixed random pixels.

        Both ways return a NumPy array, as the exported engines do, so every row pays for
        getting its answer back to Python.
        """
        tf = require_tensorflow()
        height, width = self.image_size
        rng = np.random.default_rng(seed)
        one = rng.integers(0, 256, size=(1, height, width, 3)).astype(np.float32)
        many = rng.integers(0, 256, size=(batch, height, width, 3)).astype(np.float32)
        one_tensor, many_tensor = tf.constant(one), tf.constant(many)
        model, compiled = self.model, self.compiled
        return {
            "predict": {"one": lambda: model.predict(one, verbose=0),
                        "batch": lambda: model.predict(many, batch_size=batch, verbose=0)},
            "compiled": {"one": lambda: compiled(one_tensor).numpy(),
                         "batch": lambda: compiled(many_tensor).numpy()},
        }

    def probabilities(self, images: np.ndarray, *, batch: int) -> np.ndarray:
        """Return P(dog) for (N, H, W, 3) uint8 images through the compiled call."""
        tf = require_tensorflow()
        outputs = [self.compiled(tf.constant(images[start:start + batch].astype(np.float32))).numpy()
                   for start in range(0, len(images), batch)]
        return np.concatenate(outputs).reshape(-1).astype(np.float32)


def configure_threads(tf: Any, threads: int) -> None:
    """Pin TensorFlow's thread pools before it creates them; once running they are fixed."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # TensorFlow was already initialized in this process; its pools keep their size.
        pass


def load_keras_baseline(path: Path, *, threads: int) -> KerasBaseline:
    """Load a `.keras` model with TensorFlow on `threads` threads (MissingExtraError without it)."""
    tf = require_tensorflow()
    configure_threads(tf, threads)
    import keras

    if not Path(path).is_file():
        raise CatdogError(f"Keras baseline not found: {path} (pass --baseline MODEL.keras)")
    model = keras.models.load_model(path, compile=False)
    # Tracing once per input shape gives static shapes, which is Keras at its best.
    compiled = tf.function(lambda inputs: model(inputs, training=False))
    from catdog.runtime.spec import infer_spec, read_card_spec

    spec = read_card_spec(path) or infer_spec(input_shape=model.input_shape, output_shape=model.output_shape,
                                              name=Path(path).name)
    return KerasBaseline(path=Path(path), versions={"tensorflow": tf.__version__, "keras": keras.__version__},
                         model=model, compiled=compiled, spec=spec)
