"""Keep the converters' native log spam off the terminal unless the user asks for it with --verbose.

The TFLite converter and tf2onnx print hundreds of lines from C++ straight to file
descriptor 2, which Python's `sys.stderr` cannot intercept. `captured_native_output`
points that descriptor at a temporary file for the duration of one conversion and drops it:
a failure is reported in one line, and `--verbose` turns the capture off so everything shows.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator

# Set by `catdog-export --verbose`: the converters' own output then flows to the terminal as it comes.
SHOW_NATIVE_OUTPUT = {"enabled": False}


@contextmanager
def captured_native_output() -> Iterator[None]:
    """Silence fd 1 and 2 inside the block (unless --verbose asked to see everything)."""
    if SHOW_NATIVE_OUTPUT["enabled"]:
        yield
        return
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
        finally:
            for original in saved.values():
                os.close(original)
