"""The Keras baseline, timed two ways: `model.predict` as a notebook calls it, and a `tf.function`.

The baseline of an exported file is the Keras model it came from: `find_source_model` reads
the file's metadata (`source_model`, the path as the user gave it or "shipped:NAME" for a
model shipped in `catdog/runtime/models`; schema-1 files keep it in `export_options.model`)
and accepts a candidate only when its SHA-256 equals `source_sha256`.

TensorFlow is imported inside `load_keras_baseline` only, so `catdog-bench` runs (and says
so in one line) on a machine with just the runtime installed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

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
        """Return (N, K) float32 probabilities in label order for (N, H, W, 3) uint8 images (compiled call).

        A sigmoid head's one unit becomes [1 - p, p], as the engines do.
        """
        from catdog.runtime.engine import as_class_probabilities, scale_pixels

        tf = require_tensorflow()
        outputs = []
        for start in range(0, len(images), batch):
            pixels = scale_pixels(images[start:start + batch], pixel_range=self.spec.pixel_range)
            output = self.compiled(tf.constant(pixels.astype(np.float32))).numpy()
            outputs.append(as_class_probabilities(output, num_classes=self.spec.num_classes))
        return np.concatenate(outputs)


SHIPPED_PREFIX = "shipped:"


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_source(metadata: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(source model as recorded, its SHA-256) from an exported file's metadata; None where absent."""
    source = metadata.get("source_model") or (metadata.get("export_options") or {}).get("model")
    sha256 = metadata.get("source_sha256")
    return (str(source) if source else None), (str(sha256) if sha256 else None)


def find_source_model(metadata: dict[str, Any], *, model_path: Path) -> Optional[Path]:
    """The Keras file an exported model came from, or None when it cannot be found.

    A relative source path is tried from the current folder, then beside the exported file
    (as written, then by name). A candidate counts only if it is a file whose SHA-256 equals
    the recorded `source_sha256` (when one is recorded).
    """
    from catdog.runtime.models import MODELS_DIR

    source, sha256 = describe_source(metadata)
    if not source:
        return None
    if source.startswith(SHIPPED_PREFIX):
        candidates = [MODELS_DIR / source[len(SHIPPED_PREFIX):]]
    else:
        path = Path(source)
        folder = Path(model_path).parent
        candidates = [path] if path.is_absolute() else [path, folder / path, folder / path.name]
    for candidate in candidates:
        if candidate.is_file() and (sha256 is None or file_sha256(candidate) == sha256):
            return candidate
    return None


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
