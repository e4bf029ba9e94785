"""The README's quick start, `catdog-export --int8`, on an x86 CPU without AVX-512 VNNI (issue 26).

Runs the whole command, TensorFlow, both converters and the int8 gate included, under
`qemu-x86_64 -cpu Haswell` (AVX2, no VNNI: the class `x86-64 avx2`, as on the AMD EPYC host the
issue was filed from), so onnxruntime takes its non-VNNI U8S8 kernels, the ones that saturated
with the old recipe. The gate's own verdict is the result: the command exits 0 only if every
file is within --max-drop of the source model on the shipped validation photos. Emulation gives
answers, not speed: the seconds below are qemu's.

    python benchmarks/quick_start_avx2.py        # about 3 minutes on 2 cores; needs qemu-user-static

Writes benchmarks/results/quick_start_avx2.md: the class the command named, its summary table
and its exit code. Needs the [train] extra in the Python that runs this script.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def main() -> int:
    from catdog.export.emulated import check_available, python_command
    from catdog.runtime.cpu import describe_cpu

    check_available(("avx2",))
    host = describe_cpu()
    with tempfile.TemporaryDirectory() as scratch:
        command = [*python_command("avx2"), "-m", "catdog.export.cli", "--int8", "--out", f"{scratch}/exported"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - started
    output = done.stdout.replace(f"{scratch}/", "").splitlines()
    stderr = [line for line in done.stderr.splitlines() if "TCG doesn't support" not in line]
    named = next((line for line in output if line.startswith("verified on CPU class:")), "no class named")
    source = next((line for line in output if line.startswith("Source model accuracy")), "")
    lines = ["# The quick start on `x86-64 avx2` (qemu-x86_64 -cpu Haswell)", "",
             f"- Host: {host['model']}, Python {platform.python_version()}, native class `{host['class']}`; "
             "the command ran under `qemu-x86_64-static -cpu Haswell` (AVX2, no VNNI).",
             "- Command: `catdog-export --int8` (the README's quick start: the shipped model, its shipped "
             "calibration and validation photos, --max-drop 1).",
             f"- Exit code: {done.returncode} ({'the gate passed every file' if done.returncode == 0 else 'FAILED'}); "
             f"{seconds:.0f} s under emulation (not a speed figure).",
             f"- {named}", "", *[line for line in output if line.startswith("|")], "", source, "",
             *(["stderr:", "", "```", *stderr[-20:], "```", ""] if stderr and done.returncode else [])]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quick_start_avx2.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
