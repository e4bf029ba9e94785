"""The model contract: `ModelSpec`, everything a runtime must know to feed a model and read its answer.

One frozen dataclass, after timm's `PretrainedCfg`: the input size, channels and layout, the
pixel range the model expects, how a photo is resized (and whether JPEG draft decoding may be
used), the label names in index order, and the kind of output. Training writes it into the
model card (`card.json["model_spec"]`), export embeds it in every file it writes
(`metadata["model_spec"]`) and checks it against the file's real tensors, and the runtime reads
it back from the file. No other module hard-codes an image size, a channel count, a number of
classes or a label name: those belong to a model, and the shipped default's values are only
its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

# What a model's last layer gives. "sigmoid": one unit, P(labels[1]) (labels[0] gets 1 - p).
# "softmax": one probability per label, in label order, summing to 1. Logits are turned into
# probabilities at export time, so no exported file has a third kind.
OUTPUT_KINDS = ("sigmoid", "softmax")
CHANNELS = {"RGB": 3}
LAYOUTS = ("NHWC",)
RESIZE_METHODS = ("bilinear", "bicubic", "nearest", "area")


class SpecError(ValueError):
    """A ModelSpec field, or a model's tensors, break the contract."""


@dataclass(frozen=True)
class ModelSpec:
    """The contract between a model file and every stage that feeds or reads it.

    Fields:
        image_size: (height, width) in pixels of the model's input.
        labels: class names in output index order; K = len(labels) >= 2.
        output: "sigmoid" (one unit, P(labels[1])) or "softmax" (K probabilities).
        pixel_range: (low, high) the model expects for pixel values 0 and 255; (0, 255) when
            scaling happens inside the model, as in every file catdog exports.
        channels: "RGB" (3 channels, in that order).
        layout: "NHWC" (batch, height, width, channels).
        resize: the Pillow filter that shrinks a photo to image_size ("bilinear", "bicubic",
            "nearest" or "area"); the aspect ratio is not kept.
        jpeg_draft: whether JPEGs may be decoded at a reduced DCT scale (never below image_size).

    Raises SpecError when a field is out of its allowed values.
    """

    image_size: tuple[int, int]
    labels: tuple[str, ...]
    output: str = "sigmoid"
    pixel_range: tuple[float, float] = (0.0, 255.0)
    channels: str = "RGB"
    layout: str = "NHWC"
    resize: str = "bilinear"
    jpeg_draft: bool = True

    def __post_init__(self) -> None:
        # Lists from JSON become tuples, so specs compare and hash by value.
        object.__setattr__(self, "image_size", tuple(int(size) for size in self.image_size))
        object.__setattr__(self, "labels", tuple(str(label) for label in self.labels))
        object.__setattr__(self, "pixel_range", tuple(float(value) for value in self.pixel_range))
        problem = self._problem()
        if problem:
            raise SpecError(f"invalid model spec: {problem}")

    def _problem(self) -> str | None:
        if len(self.image_size) != 2 or min(self.image_size) < 1:
            return f"image_size must be (height, width) of positive integers, got {self.image_size}"
        if len(self.labels) < 2:
            return f"a classifier needs at least 2 labels, got {list(self.labels)}"
        if len(set(self.labels)) != len(self.labels) or not all(self.labels):
            return f"labels must be distinct and non-empty, got {list(self.labels)}"
        if self.output not in OUTPUT_KINDS:
            return f"output must be one of {', '.join(OUTPUT_KINDS)}, got {self.output!r}"
        if self.output == "sigmoid" and len(self.labels) != 2:
            return f"a sigmoid output has exactly 2 labels, got {len(self.labels)}"
        if len(self.pixel_range) != 2 or not self.pixel_range[0] < self.pixel_range[1]:
            return f"pixel_range must be (low, high) with low < high, got {self.pixel_range}"
        if self.channels not in CHANNELS:
            return f"channels must be one of {', '.join(CHANNELS)}, got {self.channels!r}"
        if self.layout not in LAYOUTS:
            return f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}"
        if self.resize not in RESIZE_METHODS:
            return f"resize must be one of {', '.join(RESIZE_METHODS)}, got {self.resize!r}"
        return None

    @property
    def num_classes(self) -> int:
        """K, the number of labels."""
        return len(self.labels)

    @property
    def output_width(self) -> int:
        """Units in the model's last axis: 1 for sigmoid, K for softmax."""
        return 1 if self.output == "sigmoid" else self.num_classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one input image, NHWC without the batch."""
        height, width = self.image_size
        return height, width, CHANNELS[self.channels]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists); `from_dict` inverts it."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        """Rebuild from `to_dict` output, ignoring keys this version does not know.

        Raises SpecError when a required field is missing or a value is invalid.
        """
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        missing = [name for name in ("image_size", "labels") if name not in values]
        if missing:
            raise SpecError(f"invalid model spec: missing {', '.join(missing)}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as error:
            if isinstance(error, SpecError):
                raise
            raise SpecError(f"invalid model spec: {error}") from None

    def replace(self, **changes: Any) -> "ModelSpec":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def default_labels(count: int) -> tuple[str, ...]:
    """`class_0 ... class_{count-1}`: the names given to a model that carries none."""
    return tuple(f"class_{index}" for index in range(count))


def known_dims(shape: Sequence[int | None]) -> list[int | None]:
    """A tensor shape as ints, with None for each dynamic dimension (given as None or a negative size such as -1)."""
    return [None if size is None or int(size) < 0 else int(size) for size in shape]


def check_tensors(spec: ModelSpec, *, input_shape: Sequence[int | None], output_shape: Sequence[int | None],
                  name: str = "model") -> None:
    """Raise SpecError naming the mismatch if a model's tensors cannot serve `spec`.

    `input_shape` is the model's NHWC input shape with the batch first (None or -1 for a
    dynamic dimension); `output_shape` its output shape, batch first. A dynamic spatial
    dimension accepts any size; the output's last axis must hold `spec.output_width` units,
    or K units for a sigmoid spec whose exported graph already gives [1 - p, p].
    """
    dims = known_dims(input_shape)
    if len(dims) != 4:
        raise SpecError(f"{name}: expected a 4-D NHWC image input, got shape {list(input_shape)}")
    expected = spec.input_shape
    for axis, (have, want) in enumerate(zip(dims[1:], expected)):
        if have is not None and have != want:
            raise SpecError(f"{name}: its input is {_shape_text(dims[1:])} but its spec says "
                            f"{_shape_text(list(expected))} (axis {axis + 1} differs)")
    outputs = known_dims(output_shape)
    units = outputs[-1] if len(outputs) >= 2 else 1
    if units is not None and units not in (spec.output_width, spec.num_classes):
        raise SpecError(f"{name}: its output has {units} units but its spec names {spec.num_classes} labels "
                        f"with a {spec.output} output ({', '.join(spec.labels)})")


def _shape_text(shape: Sequence[int | None]) -> str:
    return "x".join("?" if size is None else str(size) for size in shape)


CARD_NAME = "card.json"


def read_card(model_path) -> dict[str, Any]:
    """The training card (`card.json`) beside a Keras model as a dict, or {} without a readable one.

    The one reader of cards, for the runtime, export, bench and distillation alike.
    """
    import json
    from pathlib import Path

    card_path = Path(model_path).with_name(CARD_NAME)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def read_card_spec(model_path) -> ModelSpec | None:
    """The ModelSpec in the training card (`card.json`) beside a Keras model, or None without one.

    Training writes the card's `model_spec` entry; a model from elsewhere has no card.
    Raises SpecError if the card exists but its spec is invalid.
    """
    data = read_card(model_path).get("model_spec")
    return ModelSpec.from_dict(data) if isinstance(data, dict) else None


def infer_spec(*, input_shape: Sequence[int | None], output_shape: Sequence[int | None],
               name: str = "model") -> ModelSpec:
    """The spec of a model that carries none, read from its tensors.

    The image size comes from the NHWC input shape, K from the output's last axis (one unit
    means a sigmoid over two classes), labels are `class_0 ...`, and pixels are taken as raw
    0..255. Raises SpecError when the input is not a 3-channel NHWC image of a fixed size.
    """
    dims = known_dims(input_shape)
    if len(dims) != 4 or dims[3] != CHANNELS["RGB"]:
        raise SpecError(f"{name}: expected an NHWC input with 3 channels, got shape {list(input_shape)}")
    if dims[1] is None or dims[2] is None:
        raise SpecError(f"{name}: its input size is not fixed ({_shape_text(dims[1:])}) and no spec names one")
    outputs = known_dims(output_shape)
    units = outputs[-1] if len(outputs) >= 2 and outputs[-1] is not None else 1
    if units == 1:
        return ModelSpec(image_size=(dims[1], dims[2]), labels=default_labels(2), output="sigmoid")
    return ModelSpec(image_size=(dims[1], dims[2]), labels=default_labels(units), output="softmax")
