"""The Python API: `Classifier().predict(image)` for one image or a batch, on any shipped or exported model.

The result type, `Prediction`, lives in `catdog.runtime.prediction` and is re-exported here.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catdog.runtime.pipeline import flush_batch
from catdog.runtime.prediction import Prediction, make_error, make_prediction  # noqa: F401 - re-exported
from catdog.runtime.preprocess import load_image

__all__ = ["Classifier", "Prediction", "describe_source"]


def describe_source(image: Any) -> str | None:
    """Name an input for the `source` field: its path, or None for in-memory images."""
    if isinstance(image, (str, os.PathLike)):
        return os.fsdecode(image)  # bytes paths too; undecodable bytes keep surrogate escapes
    return None


@dataclass
class Classifier:
    """Load a model once, then classify images: paths, bytes, PIL images or (H, W, 3) uint8 arrays.

    With no `model_path`, the shipped file picked for this CPU class runs (`model_choice` says which
    and why: the fastest for the class among those verified on it, `catdog.runtime.models`).
    A model without catdog metadata gets its input size and K from its tensors and labels
    `class_0 ...`, with one `UserWarning` saying so. Raises CatdogError when the model
    cannot be loaded or its tensors disagree with its spec.
    """

    model_path: str | Path | None = None
    threads: int | None = None
    engine: Any = field(init=False, repr=False)
    model_choice: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        from catdog.runtime.engine import open_engine
        from catdog.runtime.models import choose_default_model

        if self.model_path is None:
            self.model_choice = choose_default_model()
            self.model_path = self.model_choice.path
        self.model_path = Path(self.model_path)
        self.engine = open_engine(self.model_path, threads=self.threads)
        if self.engine.spec_warning:
            warnings.warn(self.engine.spec_warning, UserWarning, stacklevel=3)

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels, in output index order."""
        return self.engine.labels

    def predict(self, image: Any, *, raise_on_error: bool | None = None) -> Prediction | list[Prediction]:
        """Classify one image, or a list of images (or an (N, H, W, 3) array) in one batch.

        A list gives one result per item, as the CLI does: an unreadable item becomes an error
        record (`error` set, `label` None) in its place and the rest are classified. A single image
        that cannot be read raises its decoding error (OSError, ValueError or Pillow's).
        `raise_on_error=True` raises on a list's first unreadable item too; `False` returns an error
        record for a single image too.
        """
        if isinstance(image, (list, tuple)) or (isinstance(image, np.ndarray) and image.ndim == 4):
            return self.predict_batch(list(image), raise_on_error=bool(raise_on_error))
        return self.predict_batch([image], raise_on_error=raise_on_error is not False)[0]

    def predict_batch(self, images: Sequence[Any], *, raise_on_error: bool = False) -> list[Prediction]:
        """Classify several images in one inference call; each latency is the whole batch's time.

        An unreadable image is an error record in its place, or raises with `raise_on_error=True`.
        """
        started = time.perf_counter()
        if not images:
            return []
        entries = []
        for image in images:
            try:
                entries.append((describe_source(image), load_image(image, spec=self.engine.spec), None, started))
            except Exception as error:  # noqa: BLE001 - every unreadable input is one error record
                if raise_on_error:
                    raise
                entries.append((describe_source(image), None, error, started))
        # The CLI's own batching step: one inference, error records in place, latency from `started`.
        return flush_batch(self.engine, entries)
