"""Silence what native (C/C++) libraries write to file descriptor 2, such as LiteRT's delegate banner."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hide what C++ code writes to file descriptor 2 inside the block, replaying it if the block fails.

    LiteRT announces "INFO: Created TensorFlow Lite XNNPACK delegate" on every first
    allocation, which would land between a user's results and the run summary.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
