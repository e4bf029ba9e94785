"""Say in one line that 32-bit ARM cannot run catdog, before pip or an engine fails obscurely.

LiteRT (ai-edge-litert) and ONNX Runtime publish no wheels for 32-bit ARM: 32-bit Raspberry Pi
OS reports armv7l (armv6l on a Pi Zero/1), or aarch64 when it boots the 64-bit kernel, as it does
by default on a Pi 4 and 5, while Python itself stays 32-bit. pip would fail deep inside a
resolver error. setup.py runs this check before pip resolves anything, and `open_engine` runs
it before loading a model. Standard library only: setup.py loads this file by path.
"""

from __future__ import annotations

import platform
import struct
from typing import Optional

MESSAGE = ("catdog needs 64-bit Raspberry Pi OS (aarch64): this Python is {what}, for which LiteRT and ONNX "
           "Runtime publish no wheels; install Raspberry Pi OS (64-bit), Bookworm, with Raspberry Pi Imager "
           "and follow docs/raspberry-pi.md")


def unsupported_platform(*, machine: Optional[str] = None, pointer_bits: Optional[int] = None) -> Optional[str]:
    """The one line to print on 32-bit ARM, or None where catdog's engines have wheels."""
    machine = (platform.machine() if machine is None else machine).lower()
    pointer_bits = struct.calcsize("P") * 8 if pointer_bits is None else pointer_bits
    if machine.startswith("arm") and machine != "arm64":  # armv6l, armv7l, armv8l (32-bit userland)
        return MESSAGE.format(what=f"32-bit ARM ({machine})")
    if machine == "aarch64" and pointer_bits == 32:
        return MESSAGE.format(what="32-bit ARM (a 32-bit userland on a 64-bit kernel)")
    return None
