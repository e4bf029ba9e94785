"""Runtime: classify images, folders, video and cameras with TFLite or ONNX; never imports TensorFlow.

    from catdog.runtime import Classifier
    prediction = Classifier().predict("photo.jpg")   # Prediction(label="dog", probabilities=..., ...)
"""

from __future__ import annotations

from typing import Any

# Loaded on first use, so `import catdog.runtime` stays as cheap as it was.
_LAZY = {"Classifier": "catdog.runtime.classifier", "Prediction": "catdog.runtime.classifier",
         "open_engine": "catdog.runtime.engine"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'catdog.runtime' has no attribute {name!r}")
