"""Tests for the 32-bit ARM check: one line of what to do, from `pip install` (setup.py) and from catdog-run.

32-bit Raspberry Pi OS is faked by patching platform.machine() (and the pointer size for a
32-bit userland on the 64-bit kernel a Pi 4 or 5 boots by default).
"""

from __future__ import annotations

import platform
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

from catdog.runtime.cli import main
from catdog.runtime.platform_check import unsupported_platform

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "cat_or_dog_1.jpg"
LINE = "catdog needs 64-bit Raspberry Pi OS (aarch64)"


@pytest.mark.parametrize("machine, bits, refused", [
    ("armv7l", 32, True), ("armv6l", 32, True), ("armv8l", 32, True), ("aarch64", 32, True),
    ("aarch64", 64, False), ("x86_64", 64, False), ("AMD64", 64, False), ("arm64", 64, False),
])
def test_only_32_bit_arm_is_refused(machine, bits, refused):
    message = unsupported_platform(machine=machine, pointer_bits=bits)
    assert (message is not None) == refused
    if refused:
        assert message.startswith(LINE) and "\n" not in message and "docs/raspberry-pi.md" in message


def test_catdog_run_says_the_line_on_armv7l(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "armv7l")
    result = CliRunner().invoke(main, [str(SAMPLE)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"Error: {unsupported_platform()}"]
    assert LINE in result.stderr and "armv7l" in result.stderr


def test_pip_install_stops_with_the_line_on_armv7l(monkeypatch):
    """setup.py, which pip runs before resolving dependencies, exits with the same line."""
    monkeypatch.setattr(platform, "machine", lambda: "armv7l")
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(ROOT / "setup.py"), run_name="__main__")
    assert str(stop.value) == f"error: {unsupported_platform()}"
