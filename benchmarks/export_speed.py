"""Measure `catdog-export --int8` end to end (both formats, with verification) and the int8 sizes.

Targets: <= 60 s wall time for the whole command on this machine, and an int8 TFLite file of
<= 320 KB. The command runs as a fresh process, exactly as a user would type it (TensorFlow
import included), into a temporary folder. Results go to benchmarks/results/export_speed.{json,md}.


    .venv/bin/python benchmarks/export_speed.py [--model runtime/models/catdog.keras] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from catdog.measure.machine import read_cpu_model

RESULTS = Path(__file__).parent / "results"
TIME_TARGET_SECONDS = 60.0
SIZE_TARGET_BYTES = 320 * 1024


def machine() -> dict:
    """CPU model and core count, from /proc/cpuinfo, and the load when the run started."""
    model = read_cpu_model()
    return {"cpu": model, "cores": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "system": f"{platform.system()} {platform.machine()}"}


def summarize_runs(seconds: list[float]) -> dict:
    """The wall times of the runs, their median and whether it meets TIME_TARGET_SECONDS."""
    median = statistics.median(seconds)
    return {"seconds": [round(value, 1) for value in seconds], "median_seconds": round(median, 1),
            "time_target_seconds": TIME_TARGET_SECONDS, "time_target_met": median <= TIME_TARGET_SECONDS}


def describe_runs(host: dict, result: dict) -> list[str]:
    """The Markdown lines naming the machine and the runs' wall times against the target."""
    seconds = result["seconds"]
    return [f"- Machine: {host['cpu']}, {host['cores']} cores, {host['system']}, Python {host['python']}; "
            f"1-minute load average at start {host['load_average_1m']}",
            f"- Wall time over {len(seconds)} runs: {', '.join(f'{value:.1f}' for value in seconds)} s; "
            f"median {result['median_seconds']} s (target <= {TIME_TARGET_SECONDS:.0f} s: "
            f"{'met' if result['time_target_met'] else 'NOT met'})"]


def run_once(command: list[str]) -> tuple[float, dict[str, int], str]:
    """Run the export into a fresh folder; return wall seconds, file sizes and the printed table."""
    with tempfile.TemporaryDirectory(prefix="catdog-export-bench-") as folder:
        start = time.perf_counter()
        completed = subprocess.run([*command, "--out", folder], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise SystemExit(f"export failed ({completed.returncode}): {completed.stderr.strip().splitlines()[-1:]}")
        sizes = {path.name: path.stat().st_size for path in sorted(Path(folder).iterdir())}
    return seconds, sizes, completed.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the .keras model (default: the shipped one)")
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    executable = shutil.which("catdog-export") or str(Path(__file__).resolve().parents[1] / ".venv/bin/catdog-export")
    command = [executable, *([arguments.model] if arguments.model else []), "--int8"]
    host = machine()
    runs = [run_once(command) for _ in range(arguments.repeats)]
    seconds = [run[0] for run in runs]
    sizes, table = runs[-1][1], runs[-1][2]
    tflite_size = sizes.get("catdog_int8.tflite", 0)
    result = {
        "command": " ".join(["catdog-export", *command[1:], "--out", "<tmp>"]),
        "machine": host,
        **summarize_runs(seconds),
        "sizes_bytes": sizes,
        "int8_tflite_target_bytes": SIZE_TARGET_BYTES,
        "int8_tflite_target_met": 0 < tflite_size <= SIZE_TARGET_BYTES,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# catdog-export --int8: speed and size", "",
        f"- Command: `{result['command']}` (fresh process each run, TensorFlow import included)",
        *describe_runs(host, result),
        f"- int8 TFLite: {tflite_size:,} bytes = {tflite_size / 1024:.1f} KB (target <= 320 KB: "
        f"{'met' if result['int8_tflite_target_met'] else 'NOT met'}); "
        + ", ".join(f"{name} {size / 1024:.1f} KB" for name, size in sizes.items()),
        "", "Last run's verification table:", "", table, "",
    ]
    (RESULTS / "export_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
