"""`catdog-train --init MODEL`: start a run from an earlier catdog model's weights (transfer learning).

Small datasets need trained weights to start from; catdog ships MiniResNets at three input
sizes. The MiniResNet is fully convolutional up to its global average pool, so every weight
below the pool has the same shape at any input size: a 128x128 model's backbone can start a
64x64 run. The head (the last Dense layer) is kept when the init model's labels are this run's
labels (continued training) and made new otherwise. Every layer trains from the first epoch: a
head-only warm-up phase was measured and did not pay (docs/training-small-data.md). A file that is not a Keras model, or a
model of another architecture, is refused in one line before any photo is decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catdog.errors import CatdogError
from catdog.provenance import content_sha256, describe_path
from catdog.runtime.spec import read_card

# The MiniResNet's output layers (train/model.py): one sigmoid unit for 2 classes, K softmax units for more.
HEAD_LAYERS = ("probability", "probabilities")
# Fine-tuning defaults when --init is given (see docs/training-small-data.md for the measurements).
INIT_EPOCHS = 30
INIT_LEARNING_RATE = 5e-4


def require_init_file(path: Path) -> None:
    """Raise CatdogError (one line) unless `path` is a file; called before TensorFlow is imported."""
    from catdog.export.loaders import keras_archive_problem

    if not Path(path).is_file():
        raise CatdogError(f"--init {path}: no such file; give a model.keras from catdog-train or "
                          "runtime/models/catdog.keras")
    if (problem := keras_archive_problem(path)) is not None:
        raise CatdogError(f"--init {problem}")


def init_record(path: Path, *, head_kept: bool) -> dict[str, Any]:
    """What the card says of its init model: machine-free path, SHA-256, labels, whether the head
    was kept, and the init model's own card (its command, size, val accuracy) when one is beside it."""
    card = read_card(path)
    spec = card.get("model_spec", {}) if card else {}
    return {"model": describe_path(path), "sha256": content_sha256(path), "labels": spec.get("labels"),
            "image_size": spec.get("image_size"), "head": "kept" if head_kept else "new",
            # Its card by path and hash, not its command, which may name another machine's folders.
            "card": ({"path": describe_path(Path(path).with_name("card.json")),
                      "sha256": content_sha256(Path(path).with_name("card.json")),
                      "val_accuracy": card.get("val_accuracy")} if card else None)}


def _backbone_layers(model) -> list:
    return [layer for layer in model.layers if layer.weights and layer.name not in HEAD_LAYERS]


def init_model(path: Path, *, image_size: tuple[int, int], labels: tuple[str, ...], seed: int):
    """Build this run's MiniResNet and copy the weights of the catdog model at `path` into it.

    Returns (model, record): the uncompiled model and `init_record`'s dict. The backbone always
    comes from `path`; the head too when its card's labels equal `labels`. Raises CatdogError
    (one line) for a file Keras cannot load or a model that is not a MiniResNet.
    """
    import keras

    from catdog.train.model import build_model

    path = Path(path)
    require_init_file(path)
    try:
        source = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - any unloadable file is one line
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise CatdogError(f"--init {path} is not a Keras model this Keras can load ({reason}); "
                          "give a model.keras from catdog-train") from None
    model = build_model(image_size=image_size, num_classes=len(labels), seed=seed)
    wanted, given = _backbone_layers(model), {layer.name: layer for layer in _backbone_layers(source)}
    mismatched = [layer.name for layer in wanted
                  if layer.name not in given
                  or [tuple(w.shape) for w in given[layer.name].weights] != [tuple(w.shape) for w in layer.weights]]
    if mismatched or len(given) != len(wanted):
        raise CatdogError(f"--init {path} is not a catdog MiniResNet (its layers differ from train/model.py's, "
                          f"e.g. {(mismatched or sorted(set(given) - {layer.name for layer in wanted}))[0]}); "
                          "give a model.keras from catdog-train")
    for layer in wanted:
        layer.set_weights(given[layer.name].get_weights())
    source_labels = (read_card(path).get("model_spec") or {}).get("labels")
    head_kept = source_labels is not None and tuple(source_labels) == tuple(labels)
    if head_kept:
        head = model.layers[-1]
        head.set_weights(source.get_layer(head.name).get_weights())
    return model, init_record(path, head_kept=head_kept)

