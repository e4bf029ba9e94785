"""Keep the converters' native log spam off the terminal unless something goes wrong.

The TFLite converter and tf2onnx print hundreds of lines from C++ straight to file
descriptor 2, which Python's `sys.stderr` cannot intercept. `captured_native_output`
points that descriptor at a temporary file for the duration of one conversion and replays
the text only if the conversion raises and --verbose was given, so a failure can still show its
diagnostics while the default stays one line.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

# Set by `catdog-export --verbose`: a failed conversion then replays the converter's own output.
REPLAY_ON_FAILURE = {"enabled": False}


@contextmanager
def captured_native_output() -> Iterator[None]:
    """Silence fd 1 and 2 inside the block; on an exception with --verbose, print what was captured to stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {descriptor: os.dup(descriptor) for descriptor in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as capture:
        try:
            for descriptor in saved:
                os.dup2(capture.fileno(), descriptor)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                for descriptor, original in saved.items():
                    os.dup2(original, descriptor)
        except Exception:  # Ctrl-C needs no converter diagnostics
            if REPLAY_ON_FAILURE["enabled"]:
                capture.seek(0)
                sys.stderr.write(capture.read()[-20000:].decode("utf-8", "replace"))
            raise
        finally:
            for original in saved.values():
                os.close(original)
