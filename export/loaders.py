"""Load a source model for export, trying both Keras versions, the one that wrote the file first.

Accepted sources (anything else: one line, exit 2, naming these):

* `.keras`: written by Keras 3 or by tf_keras (Keras 2); both write `keras_version` in the
  archive's metadata.json;
* `.h5`: a whole model saved by tf.keras 2.x / tf_keras or by Keras 3 (its `keras_version`
  attribute says which);
* a SavedModel folder (holding `saved_model.pb`): Keras 2 `model.save(dir)` (with
  keras_metadata.pb) is loaded with `tf_keras` when installed (so its layers can be inspected),
  and any SavedModel (Keras 2, `tf.saved_model.save`, Keras 3 `model.export`) through
  TensorFlow's own `tf.saved_model.load` and its `serving_default` signature, the path the
  converters take (Keras 3 itself reads SavedModels only that way, through `TFSMLayer`).

`.keras` and `.h5` are tried with the Keras that wrote them first (`read_writer`), then with the
other one: a tf_keras `.keras` with a BatchNormalization layer, which Keras 3 cannot
deserialize, loads with tf_keras; a Keras 3 `.h5`, which tf_keras cannot read, with Keras 3.
The summary says who wrote the file and which library loaded it. When all fail, the one line
names the cause (`catdog.export.load_errors`). `custom_objects` (`--custom-objects FILE.py`,
`catdog.export.custom_objects`) is given to each Keras through its `custom_object_scope`.

The result is a `Source`: a TF-traceable `call` from the model's own input to its own output,
the input (height, width) when defined, the output units, and the Keras model when there is
one to inspect (first layer for pixel scaling, last layer for logits).
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from catdog.errors import CatdogError, require_tensorflow, shorten_middle
from catdog.provenance import content_sha256
from catdog.export.load_errors import LEGACY_EXTRA, describe_load_failure, innermost_cause
from catdog.export.quiet import captured_native_output

ACCEPTED = ("a .keras file", "an .h5 file", "a SavedModel folder (holding saved_model.pb)")


@dataclass(frozen=True)
class Source:
    """A loaded source model: what export needs from it, whatever its format."""

    path: Path
    kind: str  # "keras", "h5" or "savedmodel"
    loader: str  # the library that loaded it (and any that failed first), for the summary
    call: Callable[[Any], Any]  # TF tensor (N, H, W, 3) float32 in the model's pixel range -> output tensor
    image_size: tuple[int | None, int | None]
    units: int
    model: Any = None  # the Keras model (Keras 3 or tf_keras) when one could be loaded, else None
    keep: Any = field(default=None, repr=False)  # keeps a loaded SavedModel's variables alive
    written_by: str | None = None  # who wrote the file, from its own metadata ("Keras 3.15.1"), if it says

    def predict(self, pixels: np.ndarray, *, batch_size: int = 100) -> np.ndarray:
        """The model's own (N, units) float32 outputs for (N, H, W, 3) float32 pixels, eagerly."""
        import tensorflow as tf

        outputs = [np.asarray(self.call(tf.constant(pixels[start:start + batch_size], tf.float32)), dtype=np.float32)
                   for start in range(0, len(pixels), batch_size)]
        return np.concatenate(outputs).reshape(len(pixels), -1)


source_sha256 = content_sha256  # the one content hash: catdog.provenance


def keras_archive_problem(path: Path) -> str | None:
    """Why `path`, named .keras, cannot be a Keras model file (every .keras file is a zip archive), or None."""
    if Path(path).suffix.lower() == ".keras" and Path(path).is_file() and not zipfile.is_zipfile(path):
        return (f"{path} is not a Keras model file: a .keras file is the zip archive model.save() writes, "
                "and this one is not a zip archive (truncated, or another file renamed)")
    return None


def load_source(path: Path, *, custom_objects: Path | None = None) -> Source:
    """Load a .keras, .h5 or SavedModel folder; raise CatdogError (exit 2) naming what is accepted or the cause."""
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
    if (problem := keras_archive_problem(path)) is not None:
        raise CatdogError(problem)
    with captured_native_output():
        require_tensorflow()
    objects = {}
    if custom_objects is not None:
        from catdog.export.custom_objects import load_custom_objects, registered_aliases

        objects = registered_aliases(path, load_custom_objects(custom_objects))
    major, written_by = read_writer(path, kind=kind)
    attempts: list[tuple[str, Exception | str]] = []
    for library, loader in loader_order(kind, writer_major=major):
        if loader is None:
            attempts.append((library, f"not installed ({LEGACY_EXTRA})"))
            continue
        try:
            with captured_native_output():
                source = loader(path, kind=kind, objects=objects)
        except CatdogError:
            raise
        except Exception as error:  # noqa: BLE001 - any load failure: try the other library, then explain
            attempts.append((library, error))
            continue
        failed = [f"{name} failed: {shorten_middle(innermost_cause(str(error)), limit=120)}"
                  for name, error in attempts if not isinstance(error, str)]
        loader_text = source.loader + (f" ({'; '.join(failed)})" if failed else "")
        return replace(source, loader=loader_text, written_by=written_by)
    raise describe_load_failure(path, written_by=written_by, attempts=attempts, custom_objects=custom_objects,
                                keras_2_without_tf_keras=major == 2 and _tf_keras() is None)


def read_writer(path: Path, *, kind: str) -> tuple[int | None, str | None]:
    """(major Keras version, description) of whoever wrote the file, from its own metadata; (None, ...) if it does not say.

    Keras 3 and tf_keras write `keras_version` into a .keras archive's metadata.json and into an
    .h5 file's root attributes; a Keras 2 SavedModel holds keras_metadata.pb.
    """
    version = None
    if kind == "keras":
        try:
            with zipfile.ZipFile(path) as archive:
                version = json.loads(archive.read("metadata.json")).get("keras_version")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            return None, None  # Keras' own message says what is wrong with the archive
    elif kind == "h5":
        try:
            import h5py

            with h5py.File(path, "r") as handle:
                version = handle.attrs.get("keras_version")
        except (ImportError, OSError):
            return None, None
        version = version.decode() if isinstance(version, bytes) else version
    else:
        if (path / "keras_metadata.pb").is_file():
            return 2, "Keras 2 (keras_metadata.pb)"
        return None, "TensorFlow (no Keras metadata: Keras 3 model.export or tf.saved_model.save)"
    if not version:
        return None, None
    major = int(match.group(1)) if (match := re.match(r"(\d+)", str(version))) else None
    return major, f"Keras {version}" if major != 2 else f"Keras {version} (tf.keras / tf_keras)"


def loader_order(kind: str, *, writer_major: int | None) -> list[tuple[str, Callable | None]]:
    """(library, loader or None when not installed) in the order to try: the writer's own Keras first."""
    tf_keras = _tf_keras()
    keras_2 = (f"tf_keras {tf_keras.__version__}" if tf_keras else "tf_keras", _load_with_tf_keras if tf_keras else None)
    if kind == "savedmodel":
        generic = ("tf.saved_model.load", _load_savedmodel_signature)
        return [keras_2, generic] if writer_major == 2 and tf_keras else [generic]
    import keras

    keras_3 = (f"Keras {keras.__version__}", _load_with_keras)
    if writer_major == 2 or (kind == "h5" and writer_major is None):
        return [keras_2, keras_3]  # an .h5 that does not say is a tf.keras 2.x file
    return [keras_3, keras_2]


def _from_keras_model(path: Path, model, *, kind: str, loader: str) -> Source:
    shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else tuple(model.input_shape[0])
    if len(shape) != 4 or shape[3] != 3:
        raise CatdogError(f"{path} is not an NHWC RGB image model: its input shape is {shape}, expected (None, H, W, 3)")
    output = tuple(model.output_shape)
    if len(output) != 2 or output[1] is None:
        raise CatdogError(f"{path} is not a classifier: its output shape is {output}, expected (None, K)")
    return Source(path, kind, loader, lambda pixels: model(pixels, training=False), (shape[1], shape[2]),
                  int(output[1]), model=model)


def _load_with_keras(path: Path, *, kind: str, objects: dict) -> Source:
    import keras

    with keras.saving.custom_object_scope(objects):
        model = keras.models.load_model(path, compile=False)
    return _from_keras_model(path, model, kind=kind, loader=f"Keras {keras.__version__}")


def _tf_keras():
    try:
        import tf_keras
    except ImportError:
        return None
    return tf_keras


def _load_with_tf_keras(path: Path, *, kind: str, objects: dict) -> Source:
    tf_keras = _tf_keras()
    with tf_keras.utils.custom_object_scope(objects):
        model = tf_keras.models.load_model(path, compile=False)
    return _from_keras_model(path, model, kind=kind, loader=f"tf_keras {tf_keras.__version__}")


def _load_savedmodel_signature(path: Path, *, kind: str, objects: dict) -> Source:
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


def default_model_path() -> Path:
    """The shipped Keras baseline (`runtime/models/catdog.keras`)."""
    import catdog.runtime

    return Path(catdog.runtime.__file__).parent / "models" / "catdog.keras"
