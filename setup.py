"""Build hook: on 32-bit ARM, stop `pip install` with one line of what to do, before it resolves anything.

The project's metadata is all in pyproject.toml; this file only runs the check in
runtime/platform_check.py (loaded by path: catdog is not installed yet), because LiteRT and ONNX
Runtime have no 32-bit ARM wheels and pip would otherwise fail deep inside a resolver error.
"""

import importlib.util
import sys
from pathlib import Path

from setuptools import setup

CHECK = Path(__file__).resolve().parent / "runtime" / "platform_check.py"
spec = importlib.util.spec_from_file_location("catdog_platform_check", CHECK)
platform_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(platform_check)
problem = platform_check.unsupported_platform()
if problem:
    sys.exit(f"error: {problem}")

setup()
