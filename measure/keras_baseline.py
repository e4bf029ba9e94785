"""The Keras baseline, timed two ways: `model.predict` as a notebook calls it, and a `tf.function`.

The baseline of an exported file is the Keras model it came from: `find_source_model` reads
the file's metadata (`source_model`, the path as the user gave it or "shipped:NAME" for a
model shipped in `catdog/runtime/models`; schema-1 files keep it in `export_options.model`)
and accepts a candidate only when its SHA-256 (`catdog.export.loaders.source_sha256`, which
also hashes SavedModel folders) equals `source_sha256`.

The baseline is fed and read the way export verification treats the source model: raw pixels
mapped onto the source's own pixel range, and its outputs turned into K probabilities by its
own head (sigmoid -> [1 - p, p], logits -> softmax), both from `catdog.export.heads` with the
`source_pixel_range`/`source_output` the exported file records. Sources load with export's
loaders (`.keras`, `.h5`, SavedModel folders). TensorFlow is imported inside
`load_keras_baseline` only, so `catdog-bench` runs (and says so in one line) on a machine with
just the runtime installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from catdog.errors import CatdogError, require_tensorflow
from catdog.export.heads import Head, reference_probabilities, scale_pixels
from catdog.export.loaders import source_sha256
from catdog.runtime.spec import ModelSpec


@dataclass
class KerasBaseline:
    """A loaded Keras model and zero-argument timing calls on preallocated inputs."""

    path: Path
    versions: dict[str, str]
    model: Any = field(repr=False)  # the Keras model, or None for a SavedModel only TensorFlow could load
    compiled: Callable[[Any], Any] = field(repr=False)
    spec: Any = None  # how images are decoded and the labels: the exported files', else the card's or the tensors'
    head: Optional[Head] = None  # the source's pixel range and output kind (None: 0..255 and the spec's output)

    @property
    def source_head(self) -> Head:
        """The head in use: `head`, else one read from the spec (0..255 pixels unless the spec says)."""
        if self.head is not None:
            return self.head
        units = 1 if self.spec.output == "sigmoid" else self.spec.num_classes
        return Head(source_output="sigmoid" if units == 1 else "softmax",
                    source_pixel_range=tuple(self.spec.pixel_range), units=units)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the model's input."""
        return self.spec.image_size

    def timing_calls(self, *, batch: int, seed: int = 0) -> dict[str, dict[str, Callable[[], object]]]:
        """Return {"predict": {"one", "batch"}, "compiled": {...}} calls on fixed random pixels.

        Pixels are in the source's own range. A SavedModel with no Keras model gets no "predict"
        ways. Both ways return a NumPy array, as the exported engines do, so every row pays for
        getting its answer back to Python.
        """
        tf = require_tensorflow()
        height, width = self.image_size
        rng = np.random.default_rng(seed)
        pixel_range = self.source_head.source_pixel_range
        one = scale_pixels(rng.integers(0, 256, size=(1, height, width, 3)), pixel_range=pixel_range)
        many = scale_pixels(rng.integers(0, 256, size=(batch, height, width, 3)), pixel_range=pixel_range)
        one_tensor, many_tensor = tf.constant(one), tf.constant(many)
        model, compiled = self.model, self.compiled
        calls = {"compiled": {"one": lambda: np.asarray(compiled(one_tensor)),
                              "batch": lambda: np.asarray(compiled(many_tensor))}}
        if model is not None and hasattr(model, "predict"):
            calls["predict"] = {"one": lambda: model.predict(one, verbose=0),
                                "batch": lambda: model.predict(many, batch_size=batch, verbose=0)}
        return calls

    def probabilities(self, images: np.ndarray, *, batch: int) -> np.ndarray:
        """Return (N, K) float32 probabilities in label order for (N, H, W, 3) uint8 images (compiled call).

        Pixels are scaled onto the source's pixel range and its outputs go through its head
        (`catdog.export.heads`): sigmoid -> [1 - p, p], logits -> softmax, as in the exported files.
        """
        tf = require_tensorflow()
        head = self.source_head
        outputs = []
        for start in range(0, len(images), batch):
            pixels = scale_pixels(images[start:start + batch], pixel_range=head.source_pixel_range)
            output = np.asarray(self.compiled(tf.constant(pixels)), dtype=np.float32)
            outputs.append(reference_probabilities(output, head=head))
        return np.concatenate(outputs)


SHIPPED_PREFIX = "shipped:"


def describe_source(metadata: dict[str, Any]) -> tuple[Optional[str], Optional[str]]:
    """(source model as recorded, its SHA-256) from an exported file's metadata; None where absent."""
    source = metadata.get("source_model") or (metadata.get("export_options") or {}).get("model")
    sha256 = metadata.get("source_sha256")
    return (str(source) if source else None), (str(sha256) if sha256 else None)


def find_source_model(metadata: dict[str, Any], *, model_path: Path) -> Optional[Path]:
    """The Keras model (file or SavedModel folder) an exported model came from, or None when it cannot be found.

    A relative source path is tried from the current folder, then beside the exported file
    (as written, then by name). A candidate counts only if it exists and its SHA-256 equals
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
        if candidate.exists() and (sha256 is None or source_sha256(candidate) == sha256):
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


def head_from_metadata(metadata: dict[str, Any], *, spec: ModelSpec) -> Optional[Head]:
    """The source model's head as an exported file records it (`source_output`, `source_pixel_range`,
    `source_units`), or None for a file that records none (schema 1, or not exported by catdog)."""
    kind, pixel_range = metadata.get("source_output"), metadata.get("source_pixel_range")
    if not kind or not pixel_range:
        return None
    units = metadata.get("source_units") or (1 if kind == "sigmoid" else spec.num_classes)
    return Head(source_output=str(kind), source_pixel_range=(float(pixel_range[0]), float(pixel_range[1])),
                units=int(units))


def load_keras_baseline(path: Path, *, threads: int, spec: Optional[ModelSpec] = None,
                        head: Optional[Head] = None) -> KerasBaseline:
    """Load a .keras, .h5 or SavedModel source with export's loaders, TensorFlow on `threads` threads.

    `spec` and `head` come from the exported files when this is their source; without them the
    spec is the training card's, else read from the tensors (0..255 pixels). Raises
    MissingExtraError without TensorFlow, CatdogError for a model that cannot be read.
    """
    from catdog.export.loaders import load_source

    tf = require_tensorflow()
    configure_threads(tf, threads)
    import keras

    if not Path(path).exists():
        raise CatdogError(f"Keras baseline not found: {path} (pass --baseline MODEL)")
    source = load_source(Path(path))
    # Tracing once per input shape gives static shapes, which is Keras at its best.
    compiled = tf.function(lambda inputs: source.call(inputs))
    if spec is None:
        from catdog.runtime.spec import infer_spec, read_card_spec

        height, width = source.image_size
        spec = read_card_spec(path) or infer_spec(input_shape=(None, height, width, 3),
                                                  output_shape=(None, source.units), name=Path(path).name)
    return KerasBaseline(path=Path(path), versions={"tensorflow": tf.__version__, "keras": keras.__version__},
                         model=source.model, compiled=compiled, spec=spec, head=head)
