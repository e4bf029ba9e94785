"""Load a source model for export, each format with the tool made for it.

Accepted sources (anything else: one line, exit 2, naming these):

* `.keras`: a Keras 3 file, loaded with `keras.models.load_model`;
* `.h5`: a whole model saved by tf.keras 2.x, loaded with `tf_keras` (the `[legacy]` extra),
  else with Keras 3's legacy HDF5 loader;
* a SavedModel folder (holding `saved_model.pb`): Keras 2 `model.save(dir)` is loaded with
  `tf_keras` when installed (so its layers can be inspected), and any SavedModel (Keras 2,
  `tf.saved_model.save`, Keras 3 `model.export`) through TensorFlow's own
  `tf.saved_model.load` and its `serving_default` signature, the path the converters take.

The result is a `Source`: a TF-traceable `call` from the model's own input to its own output,
the input (height, width) when defined, the output units, and the Keras model when there is
one to inspect (first layer for pixel scaling, last layer for logits).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from catdog.errors import CatdogError, require_tensorflow
from catdog.export.quiet import captured_native_output

ACCEPTED = ("a .keras file", "an .h5 file saved by tf.keras 2.x", "a SavedModel folder (holding saved_model.pb)")
LEGACY_EXTRA = "pip install 'catdog[legacy]'"


@dataclass(frozen=True)
class Source:
    """A loaded source model: what export needs from it, whatever its format."""

    path: Path
    kind: str  # "keras", "h5" or "savedmodel"
    loader: str  # the library that loaded it, for the summary
    call: Callable[[Any], Any]  # TF tensor (N, H, W, 3) float32 in the model's pixel range -> output tensor
    image_size: tuple[int | None, int | None]
    units: int
    model: Any = None  # the Keras model (Keras 3 or tf_keras) when one could be loaded, else None
    keep: Any = field(default=None, repr=False)  # keeps a loaded SavedModel's variables alive

    def predict(self, pixels: np.ndarray, *, batch_size: int = 100) -> np.ndarray:
        """The model's own (N, units) float32 outputs for (N, H, W, 3) float32 pixels, eagerly."""
        import tensorflow as tf

        outputs = [np.asarray(self.call(tf.constant(pixels[start:start + batch_size], tf.float32)), dtype=np.float32)
                   for start in range(0, len(pixels), batch_size)]
        return np.concatenate(outputs).reshape(len(pixels), -1)


def source_sha256(path: Path) -> str:
    """Hex SHA-256 of a model file, or of a folder's files (relative names and contents, sorted)."""
    path = Path(path)
    files = sorted(item for item in path.rglob("*") if item.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for item in files:
        if path.is_dir():
            digest.update(item.relative_to(path).as_posix().encode("utf-8") + b"\0")
        with open(item, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def load_source(path: Path) -> Source:
    """Load a .keras, .h5 or SavedModel folder; raise CatdogError (exit 2) naming what is accepted."""
    path = Path(path)
    if not path.exists():
        raise CatdogError(f"model not found: {path}: pass {', '.join(ACCEPTED)}")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise CatdogError(f"{path} is a folder without saved_model.pb: pass {', '.join(ACCEPTED)}")
        kind = "savedmodel"
    elif path.suffix.lower() in (".keras", ".h5", ".hdf5"):
        kind = "keras" if path.suffix.lower() == ".keras" else "h5"
    else:
        raise CatdogError(f"cannot export {path.name}: accepted are {', '.join(ACCEPTED)}")
    with captured_native_output():
        require_tensorflow()
    try:
        with captured_native_output():
            return _LOADERS[kind](path)
    except CatdogError:
        raise
    except Exception as error:  # noqa: BLE001 - any load failure is the same user-facing problem
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CatdogError(f"cannot read model {path}: {reason[:200]}") from None


def _from_keras_model(path: Path, model, *, kind: str, loader: str) -> Source:
    shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else tuple(model.input_shape[0])
    if len(shape) != 4 or shape[3] != 3:
        raise CatdogError(f"{path} is not an NHWC RGB image model: its input shape is {shape}, expected (None, H, W, 3)")
    output = tuple(model.output_shape)
    if len(output) != 2 or output[1] is None:
        raise CatdogError(f"{path} is not a classifier: its output shape is {output}, expected (None, K)")
    return Source(path, kind, loader, lambda pixels: model(pixels, training=False), (shape[1], shape[2]),
                  int(output[1]), model=model)


def _load_keras(path: Path) -> Source:
    import keras

    return _from_keras_model(path, keras.models.load_model(path, compile=False), kind="keras", loader="keras")


def _tf_keras():
    try:
        import tf_keras
    except ImportError:
        return None
    return tf_keras


def _load_h5(path: Path) -> Source:
    tf_keras = _tf_keras()
    if tf_keras is not None:
        return _from_keras_model(path, tf_keras.models.load_model(path, compile=False), kind="h5", loader="tf_keras")
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras 3 reads only some legacy files
        raise CatdogError(f"cannot read {path} with Keras 3 ({str(error).strip()[:120]}): "
                          f"legacy tf.keras files need tf_keras: {LEGACY_EXTRA}") from None
    return _from_keras_model(path, model, kind="h5", loader="keras (legacy HDF5)")


def _load_savedmodel(path: Path) -> Source:
    tf_keras = _tf_keras()
    if tf_keras is not None and (path / "keras_metadata.pb").is_file():
        try:
            model = tf_keras.models.load_model(path, compile=False)
            return _from_keras_model(path, model, kind="savedmodel", loader="tf_keras")
        except CatdogError:
            raise
        except Exception:  # noqa: BLE001 - a revived model TF can still run through its signature
            pass
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    signature = (getattr(loaded, "signatures", None) or {}).get("serving_default")
    if signature is None:
        raise CatdogError(f"{path} has no serving_default signature: save it with model.save(dir), "
                          "Keras 3 model.export(dir), or tf.saved_model.save(obj, dir, signatures=...)")
    inputs = signature.structured_input_signature[1]
    if len(inputs) != 1:
        raise CatdogError(f"{path}: its serving_default signature takes {len(inputs)} inputs; export needs one image input")
    (input_name, spec), = inputs.items()
    shape = tuple(spec.shape.as_list())
    if len(shape) != 4 or shape[3] != 3:
        raise CatdogError(f"{path} is not an NHWC RGB image model: its input shape is {shape}, expected (None, H, W, 3)")
    outputs = signature.structured_outputs
    if len(outputs) != 1:
        raise CatdogError(f"{path}: its serving_default signature has {len(outputs)} outputs; export needs one")
    (output_name, output_spec), = outputs.items()
    output_shape = tuple(output_spec.shape.as_list())
    if len(output_shape) != 2 or output_shape[1] is None:
        raise CatdogError(f"{path} is not a classifier: its output shape is {output_shape}, expected (None, K)")
    dtype = spec.dtype

    def call(pixels):
        return signature(**{input_name: tf.cast(pixels, dtype)})[output_name]

    return Source(path, "savedmodel", "tf.saved_model.load", call, (shape[1], shape[2]), int(output_shape[1]),
                  keep=loaded)


_LOADERS = {"keras": _load_keras, "h5": _load_h5, "savedmodel": _load_savedmodel}


def default_model_path() -> Path:
    """The shipped Keras baseline (`runtime/models/catdog.keras`)."""
    import catdog.runtime

    return Path(catdog.runtime.__file__).parent / "models" / "catdog.keras"
