"""Speed and answers of the default model's shipped files per CPU class: the table the default-file pick reads.

With no --model, catdog-run and Classifier() run the fastest file for the host's CPU class among the
files whose answers hold there (`catdog.runtime.models.choose_default_model`). This script writes that
table, `runtime/models/speed_by_class.json`, for the classes this host can reach:

  native     this host's class (`catdog.runtime.cpu.describe_cpu()`): batch-1 latency of every file
             through catdog's engine on 1 thread, files interleaved in round-robin chunks
             (`catdog.measure.timing.run_interleaved`), and its answers
  Haswell    `qemu-x86_64-static -cpu Haswell` (x86-64 avx2): answers only; qemu's speed means nothing,
             so the class keeps its documented default order (CLASS_ORDERS) and says 'not measured natively'

Answers: each file on the 500 shipped validation photos (`export/samples/validation`) against that
class's fp32 ONNX answers (the fp32 file itself against this host's fp32 answers). Targets, as in
benchmarks/onnx_int8_recipes.py: agreement >= 99%, max |dP| <= 0.15, accuracy within 0.5 points.
Entries for other classes already in the table (measured natively on another host) are kept; run this on
a host of each class to measure it. Results also go to benchmarks/results/speed_by_class.{json,md}.

    .venv/bin/python benchmarks/speed_by_class.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

from catdog.measure.machine import describe_machine
from catdog.runtime.cpu import describe_cpu
from catdog.runtime.models import DEFAULT_ORDER, MODELS_DIR, SPEED_TABLE_NAME
from answers import TARGETS, score  # benchmarks/ is the script's own folder
from onnx_int8_recipes import EMULATORS
from results_io import write_results

RESULTS = Path(__file__).resolve().parent / "results" / "speed_by_class"
VALIDATION = Path("export/samples/validation")
REFERENCE = "catdog_fp32.onnx"
# Orders for classes not measured natively, fastest expected first, and the grounds for each.
CLASS_ORDERS = {
    "x86-64 avx2": (("catdog_int8.onnx", "catdog_fp32.onnx", "catdog_int8.tflite"),
                    "from issue 26's figures, measured on an AVX2 host by the issue, not by us: 1 thread, fp32 ONNX "
                    "0.313 ms, int8 TFLite 0.52-0.61 ms; U8S8 reduce_range int8 ONNX 0.411 ms vs fp32 0.428 ms in "
                    "one run"),
}
DEFAULT_GROUNDS = ("catdog's default order (int8 TFLite, int8 ONNX, fp32 ONNX): XNNPACK's int8 kernels are "
                   "LiteRT's best-tuned path on arm64; an expectation, not a measurement")


def probe(folder: Path) -> None:
    """Run every shipped file of the default model through catdog's engine on folder/images.npy; save its answers."""
    from catdog.runtime.engine import open_engine

    images = np.load(folder / "images.npy")
    answers = {}
    for name in json.loads((folder / "files.json").read_text()):
        engine = open_engine(MODELS_DIR / name, threads=1)
        answers[name] = np.concatenate([engine.predict(images[start:start + 50]) for start in range(0, len(images), 50)])
    cpu = describe_cpu()
    tag = cpu["class"].replace(" ", "_")
    np.savez(folder / f"answers_{tag}.npz", **{name.replace(".", "_"): value for name, value in answers.items()})
    (folder / f"cpu_{tag}.json").write_text(json.dumps(cpu))
    print(cpu["class"])


def run_probe(folder: Path, names: list[str], *, prefix: list[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """Run `probe` in a subprocess, under an emulator when `prefix` names one; return its CPU and answers."""
    command = [*prefix, sys.executable, str(Path(__file__).resolve()), "--probe", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(command[:4])} failed: {done.stderr.strip().splitlines()[-1:]}")
    tag = done.stdout.strip().splitlines()[-1].replace(" ", "_")
    with np.load(folder / f"answers_{tag}.npz") as stored:
        answers = {name: stored[name.replace(".", "_")] for name in names}
    return json.loads((folder / f"cpu_{tag}.json").read_text()), answers


def check_answers(answers: dict[str, np.ndarray], *, native_fp32: np.ndarray, labels: np.ndarray,
                  how: str) -> dict[str, dict]:
    """Each file against this class's fp32 answers; the fp32 file against the native host's fp32 answers."""
    checks = {}
    for name, probabilities in answers.items():
        reference = native_fp32 if name == REFERENCE else answers[REFERENCE]
        result = score(probabilities, fp32=reference, labels=labels)
        if name == REFERENCE:  # float kernels: the answers must match to float precision, not int8 targets
            result["meets_targets"] = bool(result["max_abs_dp"] <= 1e-3 and result["flips"] == 0)
        checks[name] = {**result, "holds": result["meets_targets"], "checked": how}
    return checks


def write_markdown(report: dict, path: Path) -> None:
    """Per class: each file's latency (where measured natively), its answers, and the resulting order."""
    machine = report["machine"]
    lines = ["# Shipped files per CPU class: speed and answers", "",
             f"Host: {machine['cpu']} (class `{machine['cpu_class']}`, features {', '.join(machine['cpu_features'])}), "
             f"{machine['cores']} cores, 1-minute load average {machine['load_average']} at the start (shared machine).",
             f"Answers on {report['validation_images']} photos in `{report['validation']}` against the class's fp32 "
             f"answers; targets: agreement >= {TARGETS['min_agreement_percent']:g}%, max |dP| <= "
             f"{TARGETS['max_abs_dp']:g}, accuracy within {TARGETS['max_accuracy_delta_points']:g} points.", ""]
    for name, entry in report["table"]["classes"].items():
        lines += [f"## `{name}`", "", f"Speed: {entry['speed']}.", "",
                  "| file | p50 ms (1 thread) | p90 ms | agreement | max abs dP | accuracy | answers hold |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for file_name in entry["order"]:
            row = entry["files"].get(file_name, {})
            answers = row.get("answers") or {}
            latency = row.get("latency_ms") or {}
            cells = [f"{latency['p50']:.3f}" if latency else "not measured natively",
                     f"{latency['p90']:.3f}" if latency else "-"]
            if answers:
                cells += [f"{answers['agreement']:.1%}", f"{answers['max_abs_dp']:.3f}", f"{answers['accuracy']:.1%}",
                          f"{'yes' if answers['holds'] else 'NO'} ({answers['checked']})"]
            else:
                cells += ["-", "-", "-", "not checked here"]
            lines.append(f"| {file_name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Table: `runtime/models/{SPEED_TABLE_NAME}`. Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--runs", type=click.IntRange(min=50), default=2000, show_default=True,
              help="Timed batch-1 runs per file (native).")
@click.option("--table", type=click.Path(path_type=Path), default=MODELS_DIR / SPEED_TABLE_NAME, show_default=True,
              help="The per-class table to update.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
@click.option("--probe", "probe_folder", type=click.Path(path_type=Path), default=None, hidden=True,
              help="Internal: run the files on this CPU.")
def main(runs, table, out, probe_folder):
    """Time the default model's shipped files natively, check their answers natively and under qemu, write the table."""
    if probe_folder is not None:
        probe(probe_folder)
        return
    from catdog.export.calibration import load_validation_set
    from catdog.measure.timing import run_interleaved, summarize
    from catdog.runtime.engine import open_engine
    from catdog.runtime.models import litert_available

    machine = describe_machine(threads=1)
    names = [name for name in DEFAULT_ORDER if (MODELS_DIR / name).exists()
             and (name.endswith(".onnx") or litert_available())]
    engines = {name: open_engine(MODELS_DIR / name, threads=1) for name in names}
    validation = load_validation_set(VALIDATION, model_path=MODELS_DIR / REFERENCE, spec=engines[REFERENCE].spec,
                                     shipped=True)
    classes = {}
    with tempfile.TemporaryDirectory(prefix="catdog-speed-") as folder:
        folder = Path(folder)
        np.save(folder / "images.npy", validation.images)
        (folder / "files.json").write_text(json.dumps(names))
        native_cpu, native = run_probe(folder, names, prefix=[])
        classes[native_cpu["class"]] = ("natively", native_cpu, native)
        for emulator, prefix in EMULATORS.items():
            if shutil.which(prefix[0]) is None:
                raise click.ClickException(f"{prefix[0]} not found: apt-get install qemu-user-static")
            cpu, answers = run_probe(folder, names, prefix=prefix)
            classes.setdefault(cpu["class"], (f"under {emulator}, answers only", cpu, answers))
    pixels = np.random.default_rng(0).integers(0, 256, size=(1, *engines[REFERENCE].spec.input_shape), dtype=np.uint8)
    timings, _ = run_interleaved({name: (lambda engine=engine: engine.predict(pixels)) for name, engine in engines.items()},
                                 warmup=200, min_runs=runs)
    latency = {name: summarize(timings[name]) for name in names}

    previous = json.loads(table.read_text()) if table.exists() else {}
    entries = dict(previous.get("classes") or {})
    for class_name, (how, cpu, answers) in classes.items():
        checks = check_answers(answers, native_fp32=native[REFERENCE], labels=validation.labels, how=how)
        if how == "natively":
            order = sorted(names, key=lambda name: latency[name]["p50"])
            entries[class_name] = {
                "measured_natively": True, "measured_on": f"{machine['cpu']}, {machine['platform']}",
                "speed": f"measured natively on {machine['cpu']}: batch 1, 1 thread, p50 through catdog's engine",
                "load_average": machine["load_average"], "order": order,
                "files": {name: {"p50_ms": latency[name]["p50"], "latency_ms": latency[name], "answers": checks[name]}
                          for name in names}}
        else:
            kept = entries.get(class_name) or {}
            if kept.get("measured_natively"):  # measured on a host of this class: keep its speed, renew the answers
                for name in names:
                    kept.setdefault("files", {}).setdefault(name, {})["answers"] = checks[name]
                continue
            order, grounds = CLASS_ORDERS.get(class_name, (DEFAULT_ORDER, DEFAULT_GROUNDS))
            entries[class_name] = {"measured_natively": False, "speed": f"not measured natively; order {grounds}",
                                   "order": list(order), "files": {name: {"answers": checks[name]} for name in names}}
    for class_name in ("aarch64", "aarch64 asimddp"):
        entries.setdefault(class_name, {"measured_natively": False, "order": list(DEFAULT_ORDER), "files": {},
                                        "speed": f"not measured natively; order {DEFAULT_GROUNDS}"})
    document = {"written_by": "benchmarks/speed_by_class.py", "default_order": list(DEFAULT_ORDER),
                "targets": TARGETS, "reference": REFERENCE, "validation": str(VALIDATION),
                "validation_images": int(len(validation.labels)), "classes": entries}
    table.write_text(json.dumps(document, indent=2) + "\n")
    report = {"machine": machine, "validation": str(VALIDATION), "validation_images": int(len(validation.labels)),
              "runs": runs, "table": document, "command": " ".join(["python benchmarks/speed_by_class.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
