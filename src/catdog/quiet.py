"""Keep library start-up chatter out of catdog's output unless the user asks for it with --verbose.

Every catdog command calls `configure_logging(verbose=...)` first, before TensorFlow,
onnxruntime or LiteRT is imported, because the documented switches only work then:

* `TF_CPP_MIN_LOG_LEVEL=3` hides TensorFlow's C++ INFO/WARNING/ERROR lines (CUDA probing,
  oneDNN notices); see tensorflow/core/platform/default/logging.cc.
* absl's Python logging, and Python `logging` for tensorflow, keras, tf2onnx and onnx, are
  raised to ERROR.
* Python warnings from those libraries are ignored (Pillow's included: catdog reports an
  oversized image as an error record in its own words).
* `OPENCV_FFMPEG_LOGLEVEL=-8` (AV_LOG_QUIET) and `OPENCV_LOG_LEVEL=ERROR` keep FFmpeg's and
  OpenCV's native lines (`[mjpeg @ 0x...] error ...`, `[tcp @ ...] Connection refused`) off
  stderr; OpenCV reads them when its first capture opens (docs: OpenCV "Video I/O" env vars).

With `verbose=True` nothing is changed, so every library line shows.
"""

from __future__ import annotations

import logging
import os
import warnings

LIBRARY_LOGGERS = ("tensorflow", "keras", "absl", "tf2onnx", "onnx", "onnxruntime", "h5py", "matplotlib", "PIL")
LIBRARY_WARNING_MODULES = r"(tensorflow|keras|tf_keras|tf2onnx|onnx|onnxruntime|absl|h5py|google|PIL)(\..*)?"


def configure_logging(*, verbose: bool = False) -> None:
    """Silence library logs and warnings (the default), or leave them all on with `verbose=True`.

    Environment variables the user set explicitly are respected, never overwritten.
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=LIBRARY_WARNING_MODULES)
