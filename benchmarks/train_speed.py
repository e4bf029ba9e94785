"""Training speed: seconds per epoch on cached images, and wall time to the seed's 85.5% val accuracy.

Runs `catdog-train` with the shipped defaults on the real training set in a subprocess, watches
its history.csv, and stops it with Ctrl-C (SIGINT, which the trainer survives with a resumable
checkpoint) once validation accuracy reaches the target or the time budget runs out.

    python benchmarks/train_speed.py --data ../shared/datasets/cats_and_dogs --minutes 10
    python benchmarks/train_speed.py --image-size 96 --out benchmarks/results/train_speed_96.json
    python benchmarks/train_speed.py --out benchmarks/results/train_speed_shipped.json -- \
        --cache-scale 2 --crop-area 0.6 --mixup 0.2 --ema --teacher runtime/models/catdog96/model.keras \
        --teacher runtime/models/catdog128/model.keras

It trains with catdog-train's default flags, plus --image-size and any flags after `--` (the
issue-14 levers: --cache-scale, --crop-area, --ema, --teacher ...), so one script measures both
the plain recipe and the shipped default's. Every full run's epoch times are also in its card
(benchmarks/results/quality_runs/).

Writes benchmarks/results/train_speed.json and prints a Markdown table row.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from catdog.measure.machine import read_cpu_model

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/cats_and_dogs"))
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget for reaching the target")
    parser.add_argument("--target", type=float, default=0.855, help="validation accuracy to reach")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "train_speed.json")
    parser.add_argument("--image-size", default=None, help="catdog-train --image-size (default: its own, 64)")
    parser.add_argument("train_flags", nargs=argparse.REMAINDER,
                        help="after --: more catdog-train flags, e.g. -- --ema --crop-area 0.6")
    args = parser.parse_args()
    extra = args.train_flags[1:] if args.train_flags[:1] == ["--"] else args.train_flags

    run_dir = Path(tempfile.mkdtemp(prefix="catdog-train-speed-"))
    command = [str(Path(sys.executable).with_name("catdog-train")), "--data", str(args.data), "--out", str(run_dir)]
    if args.image_size:
        command += ["--image-size", str(args.image_size)]
    command += extra
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reached_at, rows = None, []
    try:
        while process.poll() is None and time.perf_counter() - started < args.minutes * 60:
            time.sleep(1.0)
            state = run_dir / "checkpoint" / "state.json"
            if state.exists():
                rows = json.loads(state.read_text())["history"]
            hit = [row for row in rows if row.get("val_accuracy", 0) >= args.target]
            if hit and reached_at is None:
                reached_at = time.perf_counter() - started
                break
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    # The first epoch also traces and compiles the graph; the steady state is the rest.
    steady = [row["seconds"] for row in rows[1:]] or [row["seconds"] for row in rows]
    result = {
        "machine": f"{read_cpu_model()}, {os.cpu_count()} cores",
        "command": " ".join(command[1:]),
        "epochs_seen": len(rows),
        "first_epoch_seconds": rows[0]["seconds"] if rows else None,
        "median_epoch_seconds": round(statistics.median(steady), 2) if steady else None,
        "target_val_accuracy": args.target,
        "seconds_to_target": round(reached_at, 1) if reached_at else None,
        "epoch_of_target": next((int(row["epoch"]) for row in rows if row.get("val_accuracy", 0) >= args.target), None),
        "best_val_accuracy_seen": max((row.get("val_accuracy", 0) for row in rows), default=None),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
