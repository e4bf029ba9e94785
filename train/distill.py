"""Knowledge distillation (Hinton et al. 2015, "Distilling the knowledge in a neural network").

`catdog-train --teacher MODEL --distill-weight W` trains the student on targets
(1 - W) * labels + W * teacher probabilities, where the teacher sees the very same crop, flip
and colours as the student, sampled at the teacher's own input size (a teacher trained at
96x96 looks at 96-pixel crops of the cache while the student gets 64-pixel ones). Cross-entropy
is linear in its target, so this is exactly Hinton's loss at temperature 1:
(1 - W) * CE(labels, student) + W * CE(teacher, student). The label smoothing of the run applies
on top. Validation keeps the hard labels, so early stopping and the kept weights are judged on
the data alone.

`--teacher` given several times distils from their ensemble: the teacher probability is the
mean of the teachers' probabilities, each for the crop at its own size (Hinton et al. 2015
compress an ensemble into one model this way, with the ensemble's mean as the soft targets).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catdog.provenance import describe_path
from catdog.errors import CatdogError
from catdog.export.loaders import keras_archive_problem, source_sha256
from catdog.runtime.spec import read_card


@dataclass(frozen=True)
class Distillation:
    """Loaded teachers: their Keras models, their input sizes (height, width), in the same order,
    and the weight of their mean probability in the targets."""

    models: tuple[Any, ...]
    image_sizes: tuple[tuple[int, int], ...]
    weight: float

    def soft_targets(self, teacher_images, targets):
        """Mix (B, 1) binary or (B, K) one-hot `targets` with the teachers' mean (B, 1) or (B, K)
        probabilities; `teacher_images` holds one (B, H, W, 3) batch in 0..255 per teacher, at
        its own size. Returns float32 targets of the shape of `targets`."""
        probabilities = [model(images, training=False) for model, images in zip(self.models, teacher_images)]
        return (1.0 - self.weight) * targets + self.weight * (sum(probabilities) / len(probabilities))


def require_teacher_file(path: Path) -> None:
    """Raise CatdogError (one line) unless `path` is a file; training calls it before decoding any photo."""
    if not Path(path).is_file():
        raise CatdogError(f"--teacher {path}: no such file; give a model.keras from an earlier catdog-train run")
    if (problem := keras_archive_problem(path)) is not None:
        raise CatdogError(f"--teacher {problem}")


def teacher_record(path: Path) -> dict[str, Any]:
    """What the student's card says of its teacher: the path as given, its SHA-256, and, from the
    teacher's own card beside it when there is one, its input size, val accuracy and command."""
    path = Path(path)
    record: dict[str, Any] = {"model": describe_path(path), "sha256": source_sha256(path)}
    card = read_card(path)
    if card:
        record.update(image_size=card.get("model_spec", {}).get("image_size"), val_accuracy=card.get("val_accuracy"),
                      command=card.get("command"), labels=card.get("model_spec", {}).get("labels"))
    return record


def load_teachers(paths: tuple[Path, ...], *, labels: tuple[str, ...], weight: float) -> Distillation:
    """Load one or more Keras teachers for a student with `labels` (see `load_teacher`)."""
    models = [load_teacher(path, labels=labels) for path in paths]
    return Distillation(models=tuple(models),
                        image_sizes=tuple((int(model.input_shape[1]), int(model.input_shape[2])) for model in models),
                        weight=weight)


def load_teacher(path: Path, *, labels: tuple[str, ...]):
    """Load one frozen Keras teacher for a student with `labels`; raise CatdogError (one line) when
    the file is missing, is not a Keras model, or predicts other classes (its card's labels, or its
    output width, disagree with the student's)."""
    import keras

    path = Path(path)
    require_teacher_file(path)
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - any unloadable file is one line
        raise CatdogError(f"--teacher {path} is not a Keras model this Keras can load: {error}") from None
    units = model.output_shape[-1]
    expected = 1 if len(labels) == 2 else len(labels)
    teacher_labels = (read_card(path) or {}).get("model_spec", {}).get("labels")
    if units != expected or (teacher_labels and tuple(teacher_labels) != tuple(labels)):
        named = ", ".join(teacher_labels) if teacher_labels else f"{units} output unit(s)"
        raise CatdogError(f"--teacher {path} predicts {named}, but this run's classes are {', '.join(labels)}: "
                          "a teacher must be trained on the same class folders")
    model.trainable = False
    return model
