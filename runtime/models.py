"""Where the shipped models live, and which one runs when the user names none."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_SUFFIXES = (".tflite", ".onnx", ".keras")


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


def default_model_path() -> Path:
    """Return the int8 TFLite model, or the int8 ONNX model when no TFLite interpreter is installed."""
    if litert_available():
        return shipped_model_path("catdog_int8.tflite")
    return shipped_model_path("catdog_int8.onnx")
