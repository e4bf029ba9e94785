"""Settle the model contract of an export: the source model's pixel range and head, and the exported ModelSpec.

Every fact comes from somewhere the user can see, never from a silent guess:

* image size: the model's input; `--image-size` only when the model leaves it undefined;
* labels: `--labels`, else the training card beside the model (`card.json["model_spec"]`),
  else `class_0 ...` with one warning line; a count that does not match K is an error;
* pixel range: `--pixel-range`, else the card, else a leading Rescaling or Normalization layer
  (the model scales its own input, so it takes raw 0..255), else one line and exit 2 telling
  the user how to choose;
* head: `--output`, else the last layer's activation where the model can be inspected, else
  the outputs on the calibration images (any value outside 0..1, or K values not summing to 1,
  are logits).

The exported spec always says output "softmax" and pixel_range (0, 255) (INTERFACES item 1);
the source's own values are recorded in the metadata as `source_output`, `source_pixel_range`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from catdog.errors import CatdogError
from catdog.export.heads import PIXEL_RANGES, Head
from catdog.export.loaders import Source
from catdog.runtime.spec import ModelSpec, SpecError, default_labels, read_card_spec

PIXEL_RANGE_ADVICE = ("pass --pixel-range 0,1 if it was trained on pixels divided by 255 (e.g. "
                      "ImageDataGenerator(rescale=1./255)), -1,1 for (x / 127.5) - 1 (MobileNet-style "
                      "preprocess_input), or 0,255 for raw pixels")


@dataclass(frozen=True)
class Contract:
    """The exported spec, the source head, and where each fact came from (for the summary)."""

    spec: ModelSpec
    head: Head
    origins: dict[str, str]


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    """`N` or `HxW` as (height, width); None for None. Raises CatdogError on anything else."""
    if not text:
        return None
    parts = str(text).lower().split("x")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise CatdogError(f"--image-size must be N or HxW (e.g. 96 or 96x128), got {text!r}")
    return values


def settle_image_size(source: Source, *, requested: tuple[int, int] | None) -> tuple[int, int]:
    """The (height, width) to export at: the model's own, or `--image-size` where it is undefined."""
    height, width = source.image_size
    if height is not None and width is not None:
        if requested is not None and requested != (height, width):
            raise CatdogError(f"--image-size {requested[0]}x{requested[1]} disagrees with the model's input "
                              f"{height}x{width}: drop --image-size (it is only for models without a fixed size)")
        return height, width
    if requested is None:
        raise CatdogError(f"{source.path.name} does not fix its input size ({height or '?'}x{width or '?'}): pass --image-size N or HxW")
    return requested


def leading_scaling_layer(model) -> str | None:
    """The name of a Rescaling or Normalization layer at the model's start (after its Input), or None."""
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    for layer in layers[:2]:
        if type(layer).__name__ in ("Rescaling", "Normalization"):
            return f"{type(layer).__name__} layer '{layer.name}'"
    return None


def last_activation(model) -> str | None:
    """'sigmoid', 'softmax' or 'linear' from the model's last layer, or None when it cannot be read."""
    layers = getattr(model, "layers", None)
    if not layers:
        return None
    layer = layers[-1]
    if type(layer).__name__ == "Softmax":
        return "softmax"
    if type(layer).__name__ == "Activation" or hasattr(layer, "activation"):
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None) or (activation if isinstance(activation, str) else None)
        return name if name in ("sigmoid", "softmax", "linear") else None
    return None


def read_source_card(source: Source) -> ModelSpec | None:
    """The ModelSpec of the training card beside the source model, or None; CatdogError if the card is invalid."""
    try:
        return read_card_spec(source.path)
    except SpecError as error:
        raise CatdogError(f"the card beside {source.path.name} is invalid: {error}") from None


def settle_pixel_range(source: Source, *, requested: str | None) -> tuple[tuple[float, float], str]:
    """The pixel range the source model was trained on, and where that came from.

    `--pixel-range`, else the training card, else a leading Rescaling/Normalization layer
    (0..255). Needs no calibration images, so export settles it before asking for any.
    Raises CatdogError (exit 2) with the choices when none of these says.
    """
    if requested:
        if requested.replace(" ", "") not in PIXEL_RANGES:
            raise CatdogError(f"--pixel-range must be one of {', '.join(PIXEL_RANGES)}, got {requested!r}")
        return PIXEL_RANGES[requested.replace(" ", "")], "--pixel-range"
    card = read_source_card(source)
    if card is not None:
        return card.pixel_range, "the training card"
    if (layer := leading_scaling_layer(source.model)) is not None:
        return (0.0, 255.0), f"the model's leading {layer}"
    raise CatdogError(f"{source.path.name} has no leading Rescaling or Normalization layer, so its pixel range "
                      f"is unknown: {PIXEL_RANGE_ADVICE}")


def settle_contract(source: Source, *, image_size: tuple[int, int], labels: str | None, pixel_range: str | None,
                    output: str | None, probe: Callable[[tuple[float, float]], np.ndarray] | None,
                    log: Callable[[str], None]) -> Contract:
    """The exported spec and source head; raises CatdogError (exit 2) when a fact cannot be settled.

    `probe(pixel_range)` returns the source's (N, units) outputs on the calibration images scaled
    to that range; it is called only when the head cannot be read from the model itself.
    """
    card = read_source_card(source)
    origins = {}
    count = 2 if source.units == 1 else source.units
    source_range, origins["pixel_range"] = settle_pixel_range(source, requested=pixel_range)

    if labels:
        names = tuple(label.strip() for label in labels.split(","))
        origins["labels"] = "--labels"
    elif card is not None:
        names, origins["labels"] = card.labels, "the training card"
    else:
        names, origins["labels"] = default_labels(count), "default names"
        log(f"warning: no labels given and no training card beside {source.path.name}: "
            f"using {', '.join(names)}; pass --labels a,b,...")
    if len(names) != count:
        raise CatdogError(f"{len(names)} labels ({', '.join(names)}) for a model with {count} classes "
                          f"(its output has {source.units} unit{'s' * (source.units != 1)}): pass --labels with {count} names")

    if output:
        kind, origins["output"] = ("logits" if output == "logits" else None), "--output"
    elif card is not None:
        kind, origins["output"] = card.output, "the training card"
    elif (activation := last_activation(source.model)) is not None:
        kind, origins["output"] = ("logits" if activation == "linear" else activation), "the model's last layer"
    else:
        values = probe(source_range) if probe is not None else None
        kind = _probed_kind(values, units=source.units)
        origins["output"] = "its values on the calibration images; --output overrides"
    if kind is None or kind == "probabilities":
        kind = "sigmoid" if source.units == 1 else "softmax"
    if kind == "sigmoid" and source.units != 1:
        kind = "softmax"
    head = Head(source_output=kind, source_pixel_range=tuple(float(value) for value in source_range),
                units=source.units)
    # The card's resize method and JPEG draft flag carry over; exported files take raw pixels and give K probabilities.
    base = card or ModelSpec(image_size=image_size, labels=names, output="softmax")
    spec = base.replace(image_size=image_size, labels=names, output="softmax", pixel_range=(0.0, 255.0))
    return Contract(spec, head, origins)


def _probed_kind(values: np.ndarray | None, *, units: int) -> str:
    if values is None or len(values) == 0:
        return "sigmoid" if units == 1 else "softmax"
    outside = bool(np.any(values < -1e-6) or np.any(values > 1 + 1e-6))
    if outside:
        return "logits"
    if units > 1 and not np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
        return "logits"
    return "sigmoid" if units == 1 else "softmax"
