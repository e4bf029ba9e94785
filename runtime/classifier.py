"""The Python API: `Classifier().predict(image)` for one image or a batch, on any shipped or exported model."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catdog.runtime.preprocess import load_image


@dataclass(frozen=True)
class Prediction:
    """One decision: the label, both probabilities, and how long capture-to-decision took.

    An input that could not be classified has `error` set and `label`/`probabilities` None.
    `frame` is the frame index for video, camera and stream inputs.
    """

    label: str | None
    probabilities: dict[str, float] | None
    latency_ms: float
    source: str | None = None
    frame: int | None = None
    error: str | None = None

    @property
    def confidence(self) -> float | None:
        """The probability of the chosen label."""
        return None if self.probabilities is None else self.probabilities[self.label]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON Lines record: `error` replaces `label`/`probabilities` for a failed input."""
        record: dict[str, Any] = {"source": self.source}
        if self.frame is not None:
            record["frame"] = self.frame
        if self.error is not None:
            record["error"] = self.error
        else:
            record["label"] = self.label
            record["probabilities"] = self.probabilities
        record["latency_ms"] = round(self.latency_ms, 3)
        return record


def make_prediction(probability: float, *, labels: Sequence[str], latency_ms: float,
                    source: str | None = None, frame: int | None = None) -> Prediction:
    """Turn P(labels[1]) into a Prediction; exactly 0.5 goes to labels[1], as `>= 0.5` does in training."""
    probability = float(probability)
    probabilities = {labels[0]: round(1.0 - probability, 6), labels[1]: round(probability, 6)}
    label = labels[1] if probability >= 0.5 else labels[0]
    return Prediction(label, probabilities, latency_ms, source, frame)


def make_error(error: BaseException | str, *, latency_ms: float = 0.0, source: str | None = None,
               frame: int | None = None) -> Prediction:
    """Describe a failed input in one line, e.g. `UnidentifiedImageError: cannot identify image file`."""
    if isinstance(error, BaseException):
        from catdog.errors import CatdogError

        message = str(error).splitlines()[0] if str(error) else ""
        if isinstance(error, CatdogError) and message:
            error = message  # already a sentence written for the user
        else:
            error = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return Prediction(None, None, latency_ms, source, frame, error)


def describe_source(image: Any) -> str | None:
    """Name an input for the `source` field: its path, or None for in-memory images."""
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    return None


@dataclass
class Classifier:
    """Load a model once, then classify images: paths, bytes, PIL images or (H, W, 3) uint8 arrays.

    With no `model_path`, the shipped int8 TFLite model runs (int8 ONNX if LiteRT is missing).
    """

    model_path: str | Path | None = None
    threads: int | None = None
    engine: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from catdog.runtime.engine import open_engine
        from catdog.runtime.models import default_model_path

        self.model_path = Path(self.model_path) if self.model_path is not None else default_model_path()
        self.engine = open_engine(self.model_path, threads=self.threads)

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's two labels, index 1 being the positive class."""
        return self.engine.labels

    def predict(self, image: Any) -> Prediction | list[Prediction]:
        """Classify one image, or a list of images (or an (N, H, W, 3) array) in one batch.

        Raises the decoding error of the first unreadable image; the CLI reports those per input.
        """
        if isinstance(image, (list, tuple)) or (isinstance(image, np.ndarray) and image.ndim == 4):
            return self.predict_batch(list(image))
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[Any]) -> list[Prediction]:
        """Classify several images in one inference call; each latency is the whole batch's time."""
        started = time.perf_counter()
        if not images:
            return []
        batch = np.stack([load_image(image, spec=self.engine.spec) for image in images])
        probabilities = self.engine.predict(batch)
        latency_ms = (time.perf_counter() - started) * 1000.0
        return [make_prediction(probability, labels=self.labels, latency_ms=latency_ms, source=describe_source(image))
                for image, probability in zip(images, probabilities)]
