"""The CPU this process runs on: its model name, the ISA features int8 kernels depend on, and its class.

An int8 file's answers can depend on the CPU: onnxruntime's U8S8 kernels on x86 without VNNI sum in
16 bits and saturate, and arm64 cores with and without the dot-product instructions take other
kernel paths. So export, the runtime and catdog-bench name the class they ran on, from one place.

The features come from numpy's own runtime CPU dispatch (CPUID on x86, the kernel's hwcaps on arm64),
not from /proc/cpuinfo: under qemu-user, /proc/cpuinfo is the host's, while CPUID and hwcaps are
the emulated CPU's. So `qemu-x86_64 -cpu Haswell` is seen here as `x86-64 avx2`.
"""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

# numpy's feature names -> the names Linux's /proc/cpuinfo uses, which users grep for.
_FEATURES = {
    "x86-64": {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512BW": "avx512bw", "AVX512VNNI": "avx512_vnni"},
    "aarch64": {"ASIMD": "asimd", "ASIMDDP": "asimddp", "ASIMDHP": "asimdhp", "SVE": "sve"},
}
# The features that pick a class, most capable first: the int8 dot-product kernels.
_CLASS_FEATURES = {"x86-64": ("avx512_vnni", "avx2"), "aarch64": ("asimddp",)}


def read_architecture() -> str:
    """Return 'x86-64', 'aarch64', or the machine's own name for anything else."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86-64"
    if machine in ("aarch64", "arm64"):
        return "aarch64"
    return machine or "unknown"


def read_cpu_model() -> str:
    """Return the CPU's marketing name from /proc/cpuinfo, else what `platform` knows.

    Under qemu-user this is the host's name; the features and class below are the emulated CPU's.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip().lower()
            if key in ("model name", "hardware"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def read_features(architecture: str | None = None) -> list[str]:
    """Return the int8-relevant ISA features this CPU has, in /proc/cpuinfo's spelling."""
    architecture = architecture or read_architecture()
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as detected
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as detected
    names = _FEATURES.get(architecture, {})
    return [ours for theirs, ours in names.items() if detected.get(theirs)]


def classify_cpu(architecture: str, features: list[str]) -> str:
    """Return the class name, e.g. 'x86-64 avx512_vnni', 'x86-64 avx2', 'aarch64 asimddp' or 'aarch64'."""
    for feature in _CLASS_FEATURES.get(architecture, ()):
        if feature in features:
            return f"{architecture} {feature}"
    return architecture


@lru_cache(maxsize=1)
def describe_cpu() -> dict[str, Any]:
    """Return {'class', 'architecture', 'model', 'features'} for this process's CPU."""
    architecture = read_architecture()
    features = read_features(architecture)
    return {"class": classify_cpu(architecture, features), "architecture": architecture,
            "model": read_cpu_model(), "features": features}


def cpu_class() -> str:
    """Return this CPU's class name (see `classify_cpu`)."""
    return describe_cpu()["class"]


# Linux's AT_HWCAP bit for ARMv8.1 LSE atomics (arch/arm64/include/uapi/asm/hwcap.h: HWCAP_ATOMICS).
_AT_HWCAP, _HWCAP_ATOMICS = 16, 1 << 8


def has_lse_atomics() -> bool | None:
    """True when this arm64 CPU has ARMv8.1 LSE atomics (`atomics` in /proc/cpuinfo), None off arm64.

    Cortex-A72 (Raspberry Pi 4) has none; Cortex-A76 (Pi 5) has them. Binaries built with LSE
    (LiteRT's benchmark tool) die with SIGILL without them. Read from the kernel's hwcaps (the emulated
    CPU's under qemu-user), else from /proc/cpuinfo's Features line.
    """
    if read_architecture() != "aarch64":
        return None
    try:
        import ctypes

        hwcap = ctypes.CDLL(None).getauxval
        hwcap.restype, hwcap.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
        value = hwcap(_AT_HWCAP)
        if value:
            return bool(value & _HWCAP_ATOMICS)
    except (OSError, AttributeError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":", 1)[0].strip().lower() == "features":
                return "atomics" in line.split(":", 1)[1].split()
    except OSError:
        pass
    return None
