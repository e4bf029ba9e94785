"""Measure how much disk the runtime-only, [train] and [camera] installs of catdog take.

Each install goes into its own fresh venv in a temporary folder (`pip install .`,
`pip install ".[train]"`, `pip install ".[camera]"`, non-editable, from this clone). The
size of a distribution is the sum over the files its RECORD lists (as pip installed them,
.pyc included), measured both as bytes on disk (allocated blocks, what `du` reports) and as
file sizes. pip, setuptools and wheel, which every venv brings, are listed but left out of
the totals. catdog's own share is broken down into its shipped models and export samples.

    python benchmarks/install_size.py                 # writes benchmarks/results/install_size.{json,md}
    python benchmarks/install_size.py --keep /tmp/x   # keep the venvs there for a look

Takes about 2 minutes here when pip's cache or a local wheel folder has the packages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catdog.measure.machine import read_cpu_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
INSTALLS = {"runtime only": ".", "[train]": ".[train]", "[camera]": ".[camera]"}
VENV_TOOLS = frozenset({"pip", "setuptools", "wheel"})
MB = 1_000_000

# Run by each venv's own Python: every distribution's files as (path, bytes on disk, file size).
MEASURE = r"""
import json, os, sys
from importlib import metadata

rows = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    disk = size = 0
    parts = {}
    for entry in dist.files or []:
        path = entry.locate()
        try:
            stat = os.stat(path)
        except OSError:
            continue
        disk += stat.st_blocks * 512
        size += stat.st_size
        text = str(entry)
        for part in ("catdog/runtime/models/", "catdog/export/samples/"):
            if text.startswith(part):
                previous = parts.get(part, (0, 0))
                parts[part] = (previous[0] + stat.st_blocks * 512, previous[1] + stat.st_size)
    rows[name] = {"version": dist.version, "disk_bytes": disk, "file_bytes": size,
                  "parts": {key: {"disk_bytes": value[0], "file_bytes": value[1]} for key, value in parts.items()}}
json.dump(rows, sys.stdout)
"""


def measure_install(name: str, target: str, *, folder: Path) -> dict:
    """Create a venv in `folder`, install `target` from the clone, and return its distributions' sizes."""
    venv = folder / name.strip("[]").replace(" ", "-")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    started = time.perf_counter()
    subprocess.run([str(python), "-m", "pip", "install", "-q", target], cwd=ROOT, check=True)
    seconds = time.perf_counter() - started
    output = subprocess.run([str(python), "-c", MEASURE], check=True, capture_output=True, text=True).stdout
    distributions = json.loads(output)
    counted = {key: value for key, value in distributions.items() if key.lower() not in VENV_TOOLS}
    return {
        "command": f'pip install "{target}"',
        "install_seconds": round(seconds, 1),
        "disk_bytes": sum(item["disk_bytes"] for item in counted.values()),
        "file_bytes": sum(item["file_bytes"] for item in counted.values()),
        "distributions": dict(sorted(distributions.items(), key=lambda item: -item[1]["disk_bytes"])),
    }


def megabytes(value: int) -> str:
    return f"{value / MB:,.1f} MB"


def largest(install: dict, *, count: int = 5) -> str:
    """The biggest distributions of an install, e.g. `tensorflow 1,100 MB, ...`."""
    rows = [(name, item) for name, item in install["distributions"].items() if name.lower() not in VENV_TOOLS]
    return ", ".join(f"{name} {item['disk_bytes'] / MB:,.0f}" for name, item in rows[:count])


def markdown(report: dict) -> str:
    """The README table: one row per install, plus catdog's own share of the runtime install."""
    lines = [
        f"Installed size, measured by `benchmarks/install_size.py` on {report['machine']} "
        f"(Python {report['python']}, {report['platform']}); bytes on disk of every installed file, "
        "pip/setuptools excluded; MB = 10^6 bytes.",
        "",
        "| install | command | size on disk | largest parts (MB) |",
        "|---|---|---:|---|",
    ]
    for name, install in report["installs"].items():
        lines.append(f"| {name} | `{install['command']}` | **{megabytes(install['disk_bytes'])}** | {largest(install)} |")
    runtime = report["installs"].get("runtime only")
    if runtime and "catdog" in runtime["distributions"]:
        catdog = runtime["distributions"]["catdog"]
        parts = catdog["parts"]
        models = parts.get("catdog/runtime/models/", {}).get("disk_bytes", 0)
        samples = parts.get("catdog/export/samples/", {}).get("disk_bytes", 0)
        lines += ["", f"catdog itself: {megabytes(catdog['disk_bytes'])} on disk, of which the shipped models "
                      f"(`runtime/models/`) {megabytes(models)} and export's calibration and validation photos "
                      f"(`export/samples/`) {megabytes(samples)} "
                      f"({megabytes(parts.get('catdog/export/samples/', {}).get('file_bytes', 0))} of file data)."]
    return "\n".join(lines) + "\n"


def machine() -> str:
    """CPU model and core count, as the other benchmarks name the machine."""
    return f"{read_cpu_model()}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="Build the venvs here and keep them.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for install_size.json and .md.")
    parser.add_argument("--only", choices=sorted(INSTALLS), action="append", help="Measure only these installs.")
    arguments = parser.parse_args()
    chosen = {name: target for name, target in INSTALLS.items() if not arguments.only or name in arguments.only}
    with tempfile.TemporaryDirectory(prefix="catdog-install-size-") as scratch:
        folder = arguments.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        installs = {}
        for name, target in chosen.items():
            print(f"installing {name}: pip install \"{target}\"", file=sys.stderr, flush=True)
            installs[name] = measure_install(name, target, folder=folder)
            print(f"  {megabytes(installs[name]['disk_bytes'])} in {installs[name]['install_seconds']} s",
                  file=sys.stderr, flush=True)
    report = {"machine": machine(), "python": platform.python_version(), "platform": platform.platform(),
              "date": time.strftime("%Y-%m-%d", time.gmtime()), "installs": installs}
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "install_size.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (arguments.out / "install_size.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
