"""The export configuration: one frozen dataclass whose fields map 1:1 to `catdog-export` flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
FORMATS = ("tflite", "onnx", "all")


@dataclass(frozen=True)
class ExportConfig:
    """What to export and how to check it; written into every exported file's metadata."""

    model: Optional[Path] = None  # None means the shipped default Keras model
    int8: bool = False
    fp16: bool = False
    dynamic: bool = False
    fp32: bool = False
    format: str = "all"
    calib: Optional[Path] = None  # None means the calibration images shipped in the package
    val: Optional[Path] = None  # None means the model's own validation split, or the shipped samples
    out: Path = Path("exported")
    max_drop: float = 1.0  # percentage points of accuracy an int8 or dynamic model may lose
    pixel_range: Optional[str] = None  # "0,1", "-1,1" or "0,255"; None: the card or a leading Rescaling layer
    labels: Optional[str] = None  # "a,b,..."; None: the card, else class_0 ...
    output: Optional[str] = None  # "logits" or "probabilities"; None: read from the model
    image_size: Optional[str] = None  # "N" or "HxW", only for models without a fixed input size
    force: bool = False  # replace files exported from a different source model
    tta: str = "none"  # "flip": fold the mean of each image and its mirror into the exported graph
    custom_objects: Optional[Path] = None  # a .py file defining the model's custom layers
    verify_on: Optional[str] = None  # "avx2,cortex-a72,cortex-a76": emulated CPU classes each file is also checked on

    def precisions(self) -> tuple[str, ...]:
        """The requested precisions in a fixed order; fp32 when no precision flag is given."""
        chosen = tuple(name for name in PRECISIONS if getattr(self, name))
        return chosen or ("fp32",)

    def formats(self) -> tuple[str, ...]:
        """The requested formats: `all` means TFLite and ONNX."""
        return ("tflite", "onnx") if self.format == "all" else (self.format,)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with paths as strings, machine-free (`catdog.provenance.describe_path`):
        it goes into every exported file's metadata, and files travel."""
        from catdog.provenance import describe_path

        return {key: describe_path(value) if isinstance(value, Path) else value
                for key, value in dataclasses.asdict(self).items()}
