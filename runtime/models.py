"""Where the shipped models live, and which one runs when the user names none.

With no --model, catdog-run and Classifier() run, among the shipped files of the default model
whose answers hold on this CPU's class (`catdog.runtime.cpu.cpu_class`), the fastest for that class.
Speed comes from a table the benchmarks wrote per class (`speed_by_class.json`, written by
benchmarks/speed_by_class.py), never from timing at start-up; classes nobody measured natively
keep the table's documented default order. A file holds its answers on a class when the table's
answer check there passed, or, with no check in the table, when its metadata's
`verified_cpu_classes` names the class. A file not verified for the class is never a candidate,
however fast: the pick never trades answers for speed. Reads JSON and file metadata only.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_SUFFIXES = (".tflite", ".onnx", ".keras")
SPEED_TABLE_NAME = "speed_by_class.json"
# The default model's files, in the order used when the table says nothing about a class.
DEFAULT_ORDER = ("catdog_int8.tflite", "catdog_int8.onnx", "catdog_fp32.onnx")
# Float kernels take no int8 instruction path, so this file is run when no file is verified on a class.
FLOAT_FALLBACK = "catdog_fp32.onnx"


@dataclass(frozen=True)
class ModelChoice:
    """The file picked for this host, and why (one line for --verbose and the run summary)."""

    path: Path
    cpu_class: str
    reason: str
    basis: str = "measured"  # "measured" (natively, for this class), "default order", "float fallback", "unverified"

    def describe(self, *, verbose: bool = False) -> str:
        """The run summary's short account; the whole `reason` is for --verbose (which has printed it)."""
        why = {"measured": "fastest verified", "default order": "first verified in its documented order",
               "float fallback": "no int8 file verified, float fallback",
               "unverified": f"NOT verified on this class, {FLOAT_FALLBACK} missing"}[self.basis]
        return f"model {self.path.name} ({why} for {self.cpu_class}{'' if verbose else '; --verbose says why'})"


def shipped_model_path(name: str = "catdog_int8.tflite") -> Path:
    """Return the path of one model shipped inside the package (it may not exist in a dev tree)."""
    return MODELS_DIR / name


def shipped_models() -> list[Path]:
    """List every shipped model file, sorted by name."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(path for path in MODELS_DIR.iterdir() if path.suffix in MODEL_SUFFIXES)


def keras_baseline_path() -> Path:
    """Return the shipped Keras model that the exported files are checked against."""
    return shipped_model_path("catdog.keras")


def litert_available() -> bool:
    """Tell whether a TFLite interpreter is installed, without importing it (that costs time)."""
    return any(importlib.util.find_spec(name) is not None for name in ("ai_edge_litert", "tflite_runtime"))


def read_speed_table(models_dir: Path | None = None) -> dict[str, Any]:
    """The per-class speed and answers table beside the shipped models, or {} when it is missing or unreadable."""
    try:
        table = json.loads((Path(models_dir or MODELS_DIR) / SPEED_TABLE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def verified_classes(path: Path) -> list[str]:
    """The CPU classes a file's metadata says it was verified on ([] without the field or metadata)."""
    from catdog.runtime.metadata import MetadataError, read_metadata

    try:
        classes = read_metadata(path).get("verified_cpu_classes") or []
    except (MetadataError, OSError, ValueError):
        return []
    return [str(name) for name in classes] if isinstance(classes, list) else []


def holds_answers(path: Path, *, cpu_class: str, entry: dict[str, Any]) -> tuple[bool, str]:
    """Whether a file's answers hold on `cpu_class`, and the evidence: the table's check, else the metadata."""
    check = ((entry.get("files") or {}).get(path.name) or {}).get("answers") or {}
    if "holds" in check:
        where = check.get("checked", "by the benchmarks")
        return bool(check["holds"]), f"answers {'hold' if check['holds'] else 'do NOT hold'} on it ({where})"
    if cpu_class in verified_classes(path):
        return True, "verified on it by catdog-export (metadata verified_cpu_classes)"
    return False, "not verified on it"


def choose_default_model(*, cpu_class: str | None = None, models_dir: Path | None = None,
                         table: dict[str, Any] | None = None, litert: bool | None = None) -> ModelChoice:
    """Pick the shipped file to run with no --model: the fastest for the class among files verified on it."""
    from catdog.runtime.cpu import cpu_class as read_cpu_class

    cpu_class = cpu_class or read_cpu_class()
    models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
    table = read_speed_table(models_dir) if table is None else table
    litert = litert_available() if litert is None else litert
    entry = (table.get("classes") or {}).get(cpu_class) or {}
    order = list(entry.get("order") or table.get("default_order") or DEFAULT_ORDER)
    if entry.get("measured_natively"):
        speed = f"fastest measured natively on {cpu_class} ({entry.get('measured_on', 'see speed_by_class.json')})"
    else:
        speed = f"first in the documented order for {cpu_class} (speed not measured natively on it)"
    passed = []
    for name in order:
        path = models_dir / name
        if not path.exists():
            passed.append(f"{name}: not installed")
            continue
        if path.suffix == ".tflite" and not litert:
            passed.append(f"{name}: no TFLite interpreter (pip install ai-edge-litert)")
            continue
        holds, evidence = holds_answers(path, cpu_class=cpu_class, entry=entry)
        if not holds:
            passed.append(f"{name}: {evidence}")
            continue
        p50 = ((entry.get("files") or {}).get(name) or {}).get("p50_ms")
        timing = f", p50 {p50:.3f} ms at 1 thread" if isinstance(p50, (int, float)) else ""
        skipped = f"; passed over: {'; '.join(passed)}" if passed else ""
        return ModelChoice(path, cpu_class, f"{name}: {speed}{timing}, among the shipped files whose answers hold "
                                            f"on {cpu_class}; {evidence}{skipped}",
                           "measured" if entry.get("measured_natively") else "default order")
    fallback = models_dir / FLOAT_FALLBACK
    detail = "; ".join(passed)
    if fallback.exists():
        return ModelChoice(fallback, cpu_class, f"{FLOAT_FALLBACK}: no shipped int8 file is verified on {cpu_class} "
                                                f"({detail}); its float kernels take no int8 instruction path", "float fallback")
    name = DEFAULT_ORDER[0] if litert else DEFAULT_ORDER[1]
    return ModelChoice(models_dir / name, cpu_class, f"{name}: no shipped file is verified on {cpu_class} ({detail}) "
                                                     f"and {FLOAT_FALLBACK} is missing", "unverified")


def default_model_path() -> Path:
    """Return the file `choose_default_model` picks for this host (docs/cpu-classes.md has the per-class table)."""
    return choose_default_model().path
