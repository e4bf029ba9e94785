"""Keep library start-up chatter out of catdog's output unless the user asks for it with --verbose.

Every catdog command calls `configure_logging(verbose=...)` first, before TensorFlow,
onnxruntime or LiteRT is imported, because most switches only work then. Which switch
silences which line (measured with TensorFlow 2.21, Keras 3.15, ai-edge-litert 2.3):

| line | switch |
|---|---|
| `E0000 ... cuda_platform.cc] failed call to cuInit`, `E0000 ... node_def_util.cc] NodeDef mentions attribute use_unbounded_threadpool`, `cpu_feature_guard.cc] This TensorFlow binary is optimized ...` | `TF_CPP_MIN_LOG_LEVEL=3` set before TensorFlow is imported (TensorFlow's documented switch; 2 would keep the E lines) |
| `WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`, then `I0000 ... port.cc] oneDNN custom operations are on` and `I0000 ... cudart_stub.cc] Could not find cuda drivers`, twice | none: TensorFlow's shared libraries log them from static initializers through absl before anything reads `TF_CPP_MIN_LOG_LEVEL`, and absl has no environment switch (tensorflow/tensorflow#100442, abseil/abseil-cpp#1957). So the import of `tensorflow` alone runs with file descriptor 2 captured; the text is replayed if the import fails |
| `WARNING:tensorflow:...`, `WARNING:absl:...`, tf2onnx and onnx log records | Python `logging`: those loggers are raised to ERROR |
| Keras `UserWarning` (e.g. "`shuffle=True` was passed, but will be ignored") and other library warnings, Pillow's `DecompressionBombWarning` included (catdog reports an oversized image in its own words) | a `warnings` filter on the libraries' modules |
| FFmpeg's and OpenCV's native lines (`[mjpeg @ 0x...] error ...`, `[tcp @ ...] Connection refused`) | `OPENCV_FFMPEG_LOGLEVEL=-8` (AV_LOG_QUIET) and `OPENCV_LOG_LEVEL=ERROR`, read when OpenCV opens its first capture (OpenCV's documented Video I/O variables) |
| libcamera's `[0:00:01.2] [1234]  INFO Camera camera_manager.cpp ...` lines and Picamera2's log records (`--camera picam`) | `LIBCAMERA_LOG_LEVELS=*:ERROR` (libcamera's documented variable, read when its camera manager starts), and the `picamera2` logger raised to ERROR |
| LiteRT's `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` | none: TFLite's minimal logger writes it with fprintf and ignores `TF_CPP_MIN_LOG_LEVEL`; its only switch, `tflite::LoggerOptions::SetMinimumLogSeverity`, is C++ and not exported by the wheel (tensorflow/tensorflow#58050). `catdog.runtime.engine.native_stderr_silenced` captures fd 2 around `allocate_tensors` instead |

With `verbose=True` every library line shows, and whatever an earlier quiet call set is undone.
Environment variables the user set explicitly are respected, never overwritten.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import sys
import warnings

LIBRARY_LOGGERS = ("tensorflow", "keras", "absl", "tf2onnx", "onnx", "onnxruntime", "h5py", "matplotlib", "PIL",
                   "picamera2")
LIBRARY_WARNING_MODULES = r"(tensorflow|keras|tf_keras|tf2onnx|onnx|onnxruntime|absl|h5py|google|PIL)(\..*)?$"
# Environment switches read by native code when it starts: TensorFlow's C++ log level, gRPC's
# (multi-worker training), FFmpeg's (-8 is AV_LOG_QUIET), OpenCV's own and libcamera's.
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR",
                     "OPENCV_FFMPEG_LOGLEVEL": "-8", "OPENCV_LOG_LEVEL": "ERROR", "LIBCAMERA_LOG_LEVELS": "*:ERROR"}
# Packages whose import writes to fd 2 before any switch can act (see the table above).
NOISY_IMPORTS = frozenset({"tensorflow"})

# What the last quiet call changed, so that `configure_logging(verbose=True)` can undo it.
_environment_set: dict[str, str] = {}
_warning_filter = False  # True while the ignore filter is the newest one for the libraries


class QuietImportFinder(importlib.abc.MetaPathFinder):
    """Import NOISY_IMPORTS with file descriptor 2 captured; replay the capture if the import fails.

    It only wraps the loader of the package's own module, so submodules and every later
    import are untouched, and it steps aside once the package is imported.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname not in NOISY_IMPORTS or fullname in sys.modules:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None  # not installed: the usual ImportError follows
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec

        spec.loader = QuietLoader(loader)
        return spec


class QuietLoader(importlib.abc.Loader):
    """Run another loader's `exec_module` with fd 2 captured; the module itself sees the real loader."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        from catdog.runtime.engine import native_stderr_silenced

        # Restored first, so that the package's own code (resource readers) sees its real loader.
        module.__spec__.loader = module.__loader__ = self.loader
        with native_stderr_silenced():
            self.loader.exec_module(module)


def _remove_finder() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, QuietImportFinder)]


def configure_logging(*, verbose: bool = False) -> None:
    """Silence library logs and warnings (the default), or let them all through with `verbose=True`.

    Call it before TensorFlow, LiteRT or onnxruntime is imported: the environment switches
    are read once, at import. Calling it again is harmless.
    """
    global _warning_filter
    if verbose:
        for name, value in _environment_set.items():
            if os.environ.get(name) == value:
                del os.environ[name]
        _environment_set.clear()
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        if _warning_filter:
            warnings.filterwarnings("default", module=LIBRARY_WARNING_MODULES)
        _warning_filter = False
        _remove_finder()
        return
    for name, value in QUIET_ENVIRONMENT.items():
        if name not in os.environ:
            os.environ[name] = _environment_set[name] = value
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if not _warning_filter:
        warnings.filterwarnings("ignore", module=LIBRARY_WARNING_MODULES)
        _warning_filter = True
    if "tensorflow" not in sys.modules and not any(isinstance(finder, QuietImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, QuietImportFinder())
