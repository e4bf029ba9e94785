"""Write predictions as text lines, JSON Lines or CSV, and the closing summary for stderr.

Every record is flushed as soon as it is written, so a Ctrl-C or a crash never loses a
result that was already decided, and a pipe sees results as they come.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import TextIO

from catdog.runtime.classifier import Prediction

FORMATS = ("text", "json", "csv")
CSV_COLUMNS = ("source", "frame", "label", "p_cat", "p_dog", "latency_ms", "error")


def format_text(prediction: Prediction) -> str:
    """One human line: `photo.jpg  dog  97.1%  3.2 ms`, or `photo.jpg  error: ...`."""
    name = prediction.source or "<image>"
    if prediction.frame is not None:
        name = f"{name}#{prediction.frame}"
    if prediction.error is not None:
        return f"{name}  error: {prediction.error}"
    return f"{name}  {prediction.label}  {prediction.confidence:.1%}  {prediction.latency_ms:.1f} ms"


class PredictionWriter:
    """Write predictions to a stream in one of FORMATS, flushing after each."""

    def __init__(self, stream: TextIO, *, output_format: str = "text"):
        if output_format not in FORMATS:
            raise ValueError(f"unknown format {output_format!r}: use one of {', '.join(FORMATS)}")
        self.stream = stream
        self.output_format = output_format
        self.csv = csv.writer(stream, lineterminator="\n") if output_format == "csv" else None
        if self.csv is not None:
            self.csv.writerow(CSV_COLUMNS)

    def write(self, prediction: Prediction) -> None:
        """Write one record and flush it."""
        if self.output_format == "json":
            self.stream.write(json.dumps(prediction.to_dict()) + "\n")
        elif self.output_format == "csv":
            probabilities = prediction.probabilities or {}
            values = list(probabilities.values())
            self.csv.writerow([
                prediction.source or "", "" if prediction.frame is None else prediction.frame,
                prediction.label or "", f"{values[0]:.6f}" if values else "",
                f"{values[1]:.6f}" if values else "", f"{prediction.latency_ms:.3f}", prediction.error or ""])
        else:
            self.stream.write(format_text(prediction) + "\n")
        self.stream.flush()


@dataclass
class RunSummary:
    """What a run did: inputs seen, inputs that failed, files a folder walk skipped, and the wall time."""

    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    skipped: int = 0  # files under the given folders that are not images (or hidden, or unreadable)

    def add(self, prediction: Prediction) -> None:
        """Count one result."""
        self.count += 1
        self.errors += prediction.error is not None

    @property
    def images_per_second(self) -> float:
        """Inputs (images or frames) finished per second of wall time."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """The one-line summary printed to stderr at the end of a run."""
        text = (f"{self.count} input{'s' if self.count != 1 else ''} in {self.seconds:.2f} s "
                f"({self.images_per_second:.1f} images/s), {self.errors} error{'s' if self.errors != 1 else ''}")
        if self.skipped:
            text += f", {self.skipped} file{'s' if self.skipped != 1 else ''} skipped (--verbose names them)"
        return text + " (interrupted)" if self.interrupted else text
