"""Write predictions as text lines, JSON Lines or CSV, and the closing summary for stderr.

Every record is flushed as soon as it is written, so a Ctrl-C or a crash never loses a
result that was already decided, and a pipe sees results as they come. A results file
(`--out`) is also fsync'ed, after every record for live sources, so that a power cut loses at
most the record being written, and at most once a second for file jobs (which `--resume` redoes).

Names that are not valid UTF-8 (a Latin-1 byte 0xE9 in a file name, which Python holds as
the surrogate escape U+DCE9) never stop a run, whatever the output's encoding:

* text and CSV show `display_name(source)`: each undecodable byte as `\\xe9`, and control
  characters (a newline in a name would split a record) escaped the same way;
* JSON keeps the name reversible: such a record's `source` is the escaped display name and
  `source_bytes_b64` holds the name's exact bytes in base64, so
  `os.fsdecode(base64.b64decode(record["source_bytes_b64"]))` gives the path back. Valid names
  are written as they are (JSON escapes what it must), with no `source_bytes_b64`.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence, TextIO

from catdog.runtime.prediction import Prediction

FORMATS = ("text", "json", "csv")
CSV_LEADING_COLUMNS = ("source", "frame", "label")
CSV_TRAILING_COLUMNS = ("latency_ms", "error")
# C0 controls and DEL: shown as \xNN so one record stays one line and cannot drive the terminal.
CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(32), 127)}


def name_bytes(text: str) -> bytes:
    """The bytes a file name stands for: `os.fsencode`, which inverts Python's surrogate escapes."""
    try:
        return os.fsencode(text)
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "surrogatepass")


def is_valid_unicode(text: str) -> bool:
    """Whether `text` encodes as UTF-8 (no surrogate escapes from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_name(text: str) -> str:
    """A printable one-line form of a name: undecodable bytes and control characters as `\\xNN`."""
    if not is_valid_unicode(text):
        text = name_bytes(text).decode("utf-8", "backslashreplace")
    return text.translate(CONTROL_ESCAPES)


def probability_columns(labels: Sequence[str]) -> list[str]:
    """CSV header names `p_<label>`, one per label in order, safe for any CSV reader.

    Characters outside [A-Za-z0-9_] become `_`; a name that is then taken gets `_2`, `_3`...
    (e.g. labels "a b" and "a-b" give `p_a_b` and `p_a_b_2`).
    """
    columns: list[str] = []
    for label in labels:
        column = "p_" + re.sub(r"[^A-Za-z0-9_]", "_", label)
        candidate, suffix = column, 2
        while candidate in columns:
            candidate, suffix = f"{column}_{suffix}", suffix + 1
        columns.append(candidate)
    return columns


def format_text(prediction: Prediction, *, top_k: int = 1) -> str:
    """One human line: `photo.jpg  dog 97.1%  3.2 ms`, the top-k `label p%` pairs, or `photo.jpg  error: ...`."""
    name = display_name(prediction.source) if prediction.source is not None else "<image>"
    if prediction.frame is not None:
        name = f"{name}#{prediction.frame}"
    if prediction.error is not None:
        return f"{name}  error: {display_name(prediction.error)}"
    ranked = "  ".join(f"{display_name(label)} {probability:.1%}" for label, probability in prediction.top_k(top_k))
    return f"{name}  {ranked}  {prediction.latency_ms:.1f} ms"


def json_record(prediction: Prediction, *, top_k: int | None = None) -> dict[str, Any]:
    """The JSON Lines record of a prediction, with reversible names (see the module docstring)."""
    record = prediction.to_dict(top_k=top_k)
    source = prediction.source
    if source is not None and not is_valid_unicode(source):
        record["source"] = display_name(source)
        record["source_bytes_b64"] = base64.b64encode(name_bytes(source)).decode("ascii")
    if prediction.error is not None:
        record["error"] = display_name(prediction.error)
    return record


class PredictionWriter:
    """Write predictions to a stream in one of FORMATS, flushing after each.

    `labels` (the model's, in order) name the CSV probability columns and are required for
    CSV. `top_k` is how many `label p%` pairs a text line shows; above 1, JSON records also
    get a `top_k` list. `header=False` leaves out the CSV header (appending to a file that has
    it). Raises ValueError for an unknown format or CSV without labels.
    """

    def __init__(self, stream: TextIO, *, output_format: str = "text", labels: Sequence[str] | None = None,
                 top_k: int = 1, header: bool = True, sync_seconds: float | None = None):
        if output_format not in FORMATS:
            raise ValueError(f"unknown format {output_format!r}: use one of {', '.join(FORMATS)}")
        if output_format == "csv" and not labels:
            raise ValueError("CSV output needs the model's labels for its p_<label> columns")
        self.stream = stream
        # A results file on disk is also fsync'ed: after every record with 0 (a camera service: a power
        # cut loses at most the record being written), at most once per `sync_seconds` otherwise.
        self.sync_seconds = sync_seconds
        self._synced = time.monotonic()
        self.output_format = output_format
        self.labels = tuple(labels or ())
        self.top_k = top_k
        if output_format == "csv" and header:
            self._write_csv_row([*CSV_LEADING_COLUMNS, *probability_columns(self.labels), *CSV_TRAILING_COLUMNS])

    def write(self, prediction: Prediction) -> None:
        """Write one record and flush it."""
        if self.output_format == "json":
            # ensure_ascii: the record is pure ASCII, so no stdout encoding can refuse it.
            self._write_line(json.dumps(json_record(prediction, top_k=self.top_k if self.top_k > 1 else None)) + "\n")
        elif self.output_format == "csv":
            probabilities = prediction.probabilities or {}
            self._write_csv_row([
                display_name(prediction.source) if prediction.source is not None else "",
                "" if prediction.frame is None else prediction.frame, prediction.label or "",
                *(f"{probabilities[label]:.6f}" if label in probabilities else "" for label in self.labels),
                f"{prediction.latency_ms:.3f}", display_name(prediction.error) if prediction.error else ""])
        else:
            self._write_line(format_text(prediction, top_k=self.top_k) + "\n")
        self.stream.flush()
        if self.sync_seconds is not None and time.monotonic() - self._synced >= self.sync_seconds:
            os.fsync(self.stream.fileno())
            self._synced = time.monotonic()

    def _write_csv_row(self, row: list[Any]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        self._write_line(buffer.getvalue())

    def _write_line(self, line: str) -> None:
        """Write a whole line; characters the stream cannot encode (a label in an ASCII locale) are escaped."""
        try:
            self.stream.write(line)
        except UnicodeEncodeError:
            encoding = getattr(self.stream, "encoding", None) or "ascii"
            self.stream.write(line.encode(encoding, "backslashreplace").decode(encoding))


@dataclass
class RunSummary:
    """What a run did: inputs seen, inputs that failed, files a folder walk skipped, and the wall time."""

    count: int = 0
    errors: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    skipped: int = 0  # files under the given folders that are not images (or hidden, or unreadable)
    skipped_named: bool = False  # --verbose already listed the skipped files above the summary
    model_note: str | None = None  # which shipped file ran when no --model was given, and why
    done: int = 0  # inputs --resume skipped because the results file already holds their records

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
            text += f", {self.skipped} file{'s' if self.skipped != 1 else ''} skipped"
            text += "" if self.skipped_named else " (--verbose names them)"
        if self.done:
            text += f", {self.done} skipped as already done"
        text += f"; {self.model_note}" if self.model_note else ""
        return text + " (interrupted)" if self.interrupted else text
