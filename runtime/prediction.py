"""One classification result (`Prediction`), how it is made from K probabilities, and `decide`.

`decide` is the one rule that turns probabilities into a label index, for the runtime, bench
accuracy and agreement, and export verification alike. `make_prediction` builds a Prediction
from one row of an engine's (N, K) output; `make_error` builds the record of an input that
could not be classified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def decide(probabilities: np.ndarray) -> np.ndarray:
    """Return the (N,) int64 label index of each row of an (N, K) probability array.

    The argmax, with ties broken toward the LATER index: a binary model's 0.5 goes to
    labels[1], exactly as training's `p >= 0.5` threshold decides, and int8 outputs do land
    on exactly 0.5. A 1-D array is taken as one row. Raises ValueError for an empty last axis.
    """
    values = np.asarray(probabilities)
    if values.ndim == 1:
        values = values[None]
    if values.shape[-1] == 0:
        raise ValueError(f"cannot decide from an empty probability axis, shape {values.shape}")
    # argmax returns the first maximum; on the reversed axis that is the last one.
    last = values.shape[-1] - 1
    return (last - np.argmax(values[..., ::-1], axis=-1)).astype(np.int64)


@dataclass(frozen=True)
class Prediction:
    """One decision: the label, every label's probability, and capture-to-decision latency.

    `probabilities` maps each of the model's labels (in label order) to its probability.
    An input that could not be classified has `error` set and `label`/`probabilities` None.
    `source` is the input's name (a path as Python holds it, so a file name that is not valid
    UTF-8 keeps its surrogate escapes and `os.fsencode(source)` gives its bytes back);
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
        """The probability of the chosen label (None for an error record)."""
        return None if self.probabilities is None else self.probabilities[self.label]

    def top_k(self, k: int) -> list[tuple[str, float]]:
        """The k most probable (label, probability) pairs, most probable first.

        Ties are ordered as `decide` breaks them (later label first), so `top_k(1)[0][0]`
        is always `label`. Asking for more than K gives all K; an error record gives [].
        """
        if self.probabilities is None:
            return []
        ranked = sorted(enumerate(self.probabilities.items()), key=lambda item: (-item[1][1], -item[0]))
        return [pair for _, pair in ranked[:max(0, int(k))]]

    def to_dict(self, *, top_k: int | None = None) -> dict[str, Any]:
        """The JSON-ready record: `error` replaces `label`/`probabilities` for a failed input.

        Probabilities are rounded to 6 decimals. With `top_k`, a `top_k` list of
        {"label", "probability"} entries is added. `source` is kept as Python holds it;
        `catdog.runtime.output` makes names that are not valid UTF-8 safe for JSON.
        """
        record: dict[str, Any] = {"source": self.source}
        if self.frame is not None:
            record["frame"] = self.frame
        if self.error is not None:
            record["error"] = self.error
        else:
            record["label"] = self.label
            record["probabilities"] = {label: round(value, 6) for label, value in self.probabilities.items()}
            if top_k is not None:
                record["top_k"] = [{"label": label, "probability": round(value, 6)}
                                   for label, value in self.top_k(top_k)]
        record["latency_ms"] = round(self.latency_ms, 3)
        return record


def make_prediction(probabilities: np.ndarray | Sequence[float] | float, *, labels: Sequence[str],
                    latency_ms: float, source: str | None = None, frame: int | None = None) -> Prediction:
    """Turn one row of K probabilities (label order) into a Prediction, deciding with `decide`.

    A single number is taken as a binary model's P(labels[1]) and becomes [1 - p, p].
    Raises ValueError when the row's length differs from the number of labels.
    """
    values = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if values.size == 1 and len(labels) == 2:
        values = np.array([1.0 - values[0], values[0]])
    if values.size != len(labels):
        raise ValueError(f"{values.size} probabilities for {len(labels)} labels ({', '.join(labels)})")
    index = int(decide(values)[0])
    return Prediction(labels[index], {label: float(value) for label, value in zip(labels, values)},
                      latency_ms, source, frame)


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
