"""A results file that a job writes itself (`catdog-run --out`), and that a killed job resumes.

Records are the CLI's own (`catdog.runtime.output.PredictionWriter`, JSON Lines or CSV by the
file's suffix), one per line, appended and flushed one at a time. What makes a job resumable:

* `open_results` reads the file back before any work: the sources already recorded are skipped
  (`--resume`), error records too unless `--retry-errors` drops them first (one atomic rewrite
  with `catdog.folders.write_atomically`, so a kill during it loses nothing);
* a last line without its newline is a record cut off by a kill (SIGKILL, OOM, power loss): it
  is never parsed, but truncated away, so its source is classified again and written whole;
* the file is locked (`flock`) while a job writes it, so a second job cannot interleave;
* an existing file is never replaced silently: without `--resume` or `--append` it is refused
  in one line, and `--force` replaces it atomically.

So after any number of kills and resumes the file holds exactly one record per source.
A source is matched by the name its record carries: the exact path for JSON (names that are not
valid UTF-8 come back from `source_bytes_b64`), the display name for CSV.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from catdog.errors import CatdogError
from catdog.folders import ensure_writable, write_atomically
from catdog.runtime.output import CSV_LEADING_COLUMNS, CSV_TRAILING_COLUMNS, display_name, probability_columns

SUFFIX_FORMATS = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".csv": "csv"}
MODES = ("new", "force", "resume", "append")


def results_format(path: Path, *, output_format: str | None = None) -> str:
    """The record format for `--out PATH`: from its suffix, or the explicit --format (which must agree)."""
    from_suffix = SUFFIX_FORMATS.get(Path(path).suffix.lower())
    if output_format == "text":
        raise CatdogError("--out writes JSON Lines or CSV records (text lines cannot be resumed): "
                          "use --out FILE.jsonl or FILE.csv, or drop --format text")
    if output_format is not None and from_suffix is not None and output_format != from_suffix:
        raise CatdogError(f"--format {output_format} does not match --out {path}: "
                          f"use a {'.csv' if output_format == 'csv' else '.jsonl'} file or drop --format")
    chosen = output_format or from_suffix
    if chosen is None:
        raise CatdogError(f"cannot tell the record format of --out {path}: name it .jsonl or .csv, or pass --format")
    return chosen


def record_key(source: str, *, output_format: str) -> str:
    """How a source is named in a results file of this format (what `--resume` matches)."""
    return display_name(source) if output_format == "csv" else source


def csv_header(labels: Sequence[str]) -> str:
    """The CSV header line PredictionWriter writes for these labels."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [*CSV_LEADING_COLUMNS, *probability_columns(labels), *CSV_TRAILING_COLUMNS])
    return buffer.getvalue()


@dataclass
class Recorded:
    """What a results file already holds: each line's source, whether it was an error, and its bytes."""

    lines: list[tuple[str, bool, bytes]] = field(default_factory=list)
    header: bytes = b""
    torn: bytes = b""  # a last line cut off by a kill, without its newline

    @property
    def sources(self) -> set[str]:
        return {source for source, _, _ in self.lines}


def parse_line(line: bytes, *, output_format: str, columns: int, labels: Sequence[str], where: str
               ) -> tuple[str, bool]:
    """Read one whole record line into (source key, is error); raise CatdogError for a foreign line."""
    text = line.decode("utf-8", "surrogateescape")
    if output_format == "json":
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict) or "source" not in record:
            raise CatdogError(f"{where} is not a catdog record: repair the file, or pass --force to start over")
        probabilities = record.get("probabilities")
        if isinstance(probabilities, dict) and list(probabilities) != list(labels):
            raise CatdogError(f"{where} was classified with labels {', '.join(probabilities)}, this model has "
                              f"{', '.join(labels)}: use the same model, or another --out")
        source = record["source"]
        if record.get("source_bytes_b64"):
            source = os.fsdecode(base64.b64decode(record["source_bytes_b64"]))
        return str(source), bool(record.get("error"))
    row = next(csv.reader([text]), [])
    if len(row) != columns:
        raise CatdogError(f"{where} is not a catdog CSV record: repair the file, or pass --force to start over")
    return row[0], bool(row[-1])


def read_recorded(data: bytes, *, output_format: str, labels: Sequence[str], name: str) -> Recorded:
    """Split a results file's bytes into its header (CSV), whole records and a torn last line."""
    recorded = Recorded()
    body, newline, torn = data.rpartition(b"\n")
    if not newline:  # no complete line at all
        body, torn = b"", data
    recorded.torn = torn
    lines = body.split(b"\n") if newline else []
    if output_format == "csv" and lines:
        expected = csv_header(labels).encode("utf-8")
        if lines[0] + b"\n" != expected:
            raise CatdogError(f"{name} has other CSV columns than this model's ({expected.decode().strip()}): "
                              "use the same model, or another --out")
        recorded.header = expected
        lines = lines[1:]
    columns = len(CSV_LEADING_COLUMNS) + len(labels) + len(CSV_TRAILING_COLUMNS)
    for number, line in enumerate(lines, start=2 if recorded.header else 1):
        if not line.strip():
            continue
        source, failed = parse_line(line, output_format=output_format, columns=columns, labels=labels,
                                    where=f"line {number} of {name}")
        recorded.lines.append((source, failed, line + b"\n"))
    return recorded


def lock(handle) -> None:
    """Hold an exclusive lock on the open results file, or say that another job is writing it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one job per file is then the user's care
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise CatdogError(f"{handle.name} is being written by another catdog-run: wait for it, "
                          "or use another --out") from None


@dataclass
class ResultsFile:
    """An open, locked results file: where new records go, and which sources are already done."""

    path: Path
    output_format: str
    stream: io.TextIOWrapper
    done: set[str]
    needs_header: bool  # CSV: the file has no header yet, PredictionWriter writes it
    repaired: bool = False  # a torn last line was cut off
    retried: int = 0  # error records dropped for --retry-errors

    def close(self) -> None:
        self.stream.close()


def open_handle(path: Path):
    handle = open(path, "ab+")
    try:
        lock(handle)
    except BaseException:
        handle.close()
        raise
    return handle


def open_results(path: Path, *, output_format: str, labels: Sequence[str], mode: str = "new",
                 retry_errors: bool = False) -> ResultsFile:
    """Open `--out` for a job: refuse (new), replace (force), finish (resume) or extend (append) it.

    Raises CatdogError (one line) for an existing file without --resume/--append/--force, a
    folder, an unwritable parent, a file another job is writing, or a file of other records.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise CatdogError(f"--out {path} is a folder: name a .jsonl or .csv file (a folder is for --ray)")
    ensure_writable(path.parent if str(path.parent) else Path("."))
    exists = path.exists() and path.stat().st_size > 0
    if exists and mode == "new":
        raise CatdogError(f"{path} exists: pass --resume to finish that job, --append to add to it, "
                          "or --force to replace it")
    if mode == "force" and path.exists():
        open_handle(path).close()  # refuse to replace a file another job is writing
    if mode == "force" or not path.exists():
        write_atomically(path, lambda temporary: Path(temporary).write_bytes(b""))
    handle = open_handle(path)
    try:
        handle.seek(0)
        recorded = read_recorded(handle.read(), output_format=output_format, labels=labels, name=str(path))
        results = ResultsFile(path, output_format, None, set(), needs_header=output_format == "csv")
        if recorded.torn:
            # A record cut off by a kill: never parsed, cut away; its source runs again.
            handle.truncate(handle.tell() - len(recorded.torn))
            results.repaired = True
        if mode == "resume" and retry_errors and any(failed for _, failed, _ in recorded.lines):
            kept = [line for _, failed, line in recorded.lines if not failed]
            results.retried = len(recorded.lines) - len(kept)
            recorded.lines = [entry for entry in recorded.lines if not entry[1]]
            content = recorded.header + b"".join(kept)
            write_atomically(path, lambda temporary: Path(temporary).write_bytes(content))
            handle.close()
            handle = open_handle(path)
        results.needs_header = output_format == "csv" and not recorded.header
        if mode == "resume":
            results.done = recorded.sources
        handle.seek(0, os.SEEK_END)
        results.stream = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        return results
    except BaseException:
        handle.close()
        raise
