"""Run an exported file on CPU classes this host does not have: `catdog-export --verify-on`.

An int8 file's answers can depend on the CPU's int8 kernels (issue 26: onnxruntime's U8S8 kernels
saturate on x86 without VNNI), so export can check each file on emulated classes too, with the same
check images and the same gate as on the host, before anything is written:

* `avx2`: x86-64 with AVX2 and no VNNI, as `qemu-x86_64-static -cpu Haswell` running this very
  Python (QEMU's TCG has no AVX-512, so this is the non-VNNI path on any host). No root needed.
* `cortex-a72` (Raspberry Pi 4, class `aarch64`) and `cortex-a76` (Raspberry Pi 5, `aarch64
  asimddp`): catdog installed in the Debian arm64 userland of a catdog clone's
  `.ci/arm64-userland.sh` (`build` and `install`, as root), run with QEMU_CPU pinned.

Emulated speed means nothing: only answers are compared. This module imports only numpy and the
runtime, because it is also the worker (`python -m catdog.export.emulated MODEL IMAGES OUT`) that
runs inside each emulated class.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catdog.errors import CatdogError



@dataclass(frozen=True)
class EmulatedClass:
    """A CPU class this host can emulate: the one table for --verify-on and benchmarks/cpu_matrix.py."""

    cpu_class: str  # as catdog.runtime.cpu names it; a worker reporting another class is not this one
    how: str  # what runs it, for people
    x86_command: tuple[str, ...] | None  # the emulator that runs this very Python, or None: the arm64 userland


EMULATED_CLASSES = {
    "avx2": EmulatedClass("x86-64 avx2", "qemu-x86_64 -cpu Haswell", ("qemu-x86_64-static", "-cpu", "Haswell")),
    "cortex-a72": EmulatedClass("aarch64", "qemu-aarch64, Raspberry Pi 4 core", None),
    "cortex-a76": EmulatedClass("aarch64 asimddp", "qemu-aarch64, Raspberry Pi 5 core", None),
}
DEFAULT_ARM64_ROOT = Path("/var/cache/catdog/arm64-bookworm")  # .ci/arm64-userland.sh's default too
USERLAND_SCRIPT = Path(".ci") / "arm64-userland.sh"
WORKER_TIMEOUT_SECONDS = 900


def parse_classes(text: str | None) -> tuple[str, ...]:
    """`avx2,cortex-a72` (or `x86-64 avx2,aarch64`) -> ('avx2', 'cortex-a72'); CatdogError (exit 2) if unknown."""
    by_class = {emulated.cpu_class: name for name, emulated in EMULATED_CLASSES.items()}
    names = tuple(by_class.get(name.strip(), name.strip()) for name in (text or "").split(",") if name.strip())
    for name in names:
        if name not in EMULATED_CLASSES:
            raise CatdogError(f"--verify-on: unknown class {name!r}: choose from {', '.join(EMULATED_CLASSES)} "
                              f"(comma-separated; or the class names {', '.join(by_class)})")
    return tuple(dict.fromkeys(names))


def class_name(name: str) -> str:
    """The CPU class an emulated NAME stands for, e.g. 'x86-64 avx2'."""
    return EMULATED_CLASSES[name].cpu_class


def arm64_root() -> Path:
    """The arm64 userland's root file system ($CATDOG_ARM64_ROOT, as in .ci/arm64-userland.sh)."""
    return Path(os.environ.get("CATDOG_ARM64_ROOT", DEFAULT_ARM64_ROOT))


def python_command(name: str) -> list[str]:
    """The command that runs Python on the emulated class NAME; the caller appends Python's arguments.

    x86 classes: this very Python under the emulator, in this working directory. arm64 classes: the
    userland's catdog venv's Python through `.ci/arm64-userland.sh run NAME`, inside the userland's copy
    of the clone ($CATDOG_ARM64_WORKDIR there), so paths must be given as they are inside it.
    """
    command = EMULATED_CLASSES[name].x86_command
    if command is not None:
        return [*command, sys.executable]
    return ["bash", str(find_userland_script()), "run", name, "python"]


def find_userland_script() -> Path:
    """The clone's .ci/arm64-userland.sh ($CATDOG_ARM64_USERLAND, else under the working directory)."""
    script = Path(os.environ.get("CATDOG_ARM64_USERLAND", USERLAND_SCRIPT))
    if not script.is_file():
        raise CatdogError(f"--verify-on cortex-a72/cortex-a76 needs catdog's arm64 userland: from a catdog clone, "
                          f"as root, run `bash {USERLAND_SCRIPT} build && bash {USERLAND_SCRIPT} install` "
                          "(or set CATDOG_ARM64_USERLAND to that script)")
    return script


def check_available(names: tuple[str, ...]) -> None:
    """Raise CatdogError (one line with the fix) before any work if an emulator is missing."""
    for name in names:
        command = EMULATED_CLASSES[name].x86_command
        if command is not None and shutil.which(command[0]) is None:
            raise CatdogError(f"--verify-on {name} needs {command[0]}: sudo apt install qemu-user-static")
        if command is None:
            find_userland_script()
            if os.geteuid() != 0:
                raise CatdogError(f"--verify-on {name} runs the arm64 userland with chroot: run catdog-export as root")


def file_probabilities(path: Path, images: np.ndarray, *, name: str) -> np.ndarray:
    """(N, K) probabilities of the exported file at PATH on IMAGES, run as the emulated class NAME."""
    prefix = [*python_command(name), "-m", "catdog.export.emulated"]
    if EMULATED_CLASSES[name].x86_command is not None:
        with tempfile.TemporaryDirectory(prefix="catdog-emulated-") as folder:
            return _run_worker(prefix, Path(folder), path=path, images=images, inside=None, name=name)
    inside = Path("/root/catdog-emulated") / f"{os.getpid()}-{name}"
    folder = arm64_root() / inside.relative_to("/")
    try:
        return _run_worker(prefix, folder, path=path, images=images, inside=inside, name=name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_worker(prefix: list[str], folder: Path, *, path: Path, images: np.ndarray, inside: Path | None,
                name: str) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, folder / f"model{Path(path).suffix}")
    np.save(folder / "images.npy", images)
    where = inside or folder
    arguments = [str(where / f"model{Path(path).suffix}"), str(where / "images.npy"), str(where / "probabilities.npy")]
    try:
        done = subprocess.run([*prefix, *arguments], capture_output=True, text=True, timeout=WORKER_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise CatdogError(f"--verify-on {name}: the emulated run took over {WORKER_TIMEOUT_SECONDS} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        hint = ("; the userland's catdog may be older than this one: rerun `bash .ci/arm64-userland.sh install`"
                if inside is not None and "No module named" in last else "")
        raise CatdogError(f"--verify-on {name}: the emulated run failed (exit {done.returncode}): {last}{hint}")
    return np.load(folder / "probabilities.npy")


def main(arguments: list[str]) -> int:
    """The worker: MODEL IMAGES.npy OUT.npy -> the runtime engine's probabilities, saved to OUT."""
    from catdog.runtime.engine import open_engine

    model, images, out = arguments
    engine = open_engine(model, threads=1)
    batch = np.load(images)
    np.save(out, np.concatenate([engine.predict(batch[start:start + 100]) for start in range(0, len(batch), 100)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
