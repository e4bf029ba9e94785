"""int8 ONNX recipes across CPU classes: which `quantize_static` settings keep the fp32 file's answers everywhere.

onnxruntime's U8S8 kernels on x86 without VNNI (AVX2 `vpmaddubsw`) sum pairs of uint8 x int8 products
in 16 bits, which saturate; its quantization guide suggests `reduce_range` or U8U8. This script
quantizes the shipped fp32 ONNX file (`runtime/models/catdog_fp32.onnx`) once per recipe below, through
the function catdog-export calls (`catdog.export.onnx_export.quantize_onnx_int8`), calibrated on the
shipped calibration photos (`export/samples/calibration`), and then runs every file, fp32 included,
on the 500 shipped validation photos (`export/samples/validation`) on each CPU class it can reach:

  native     this host, its class named by `catdog.runtime.cpu.describe_cpu()`
  Haswell    `qemu-x86_64-static -cpu Haswell` (AVX2, no AVX-512, no VNNI; qemu passes the environment
             through). Only the answers are meaningful there, not the speed.

Each int8 file is compared with that class's fp32 answers: label agreement, max |dP|, accuracy. Targets
on every class: agreement >= 99%, max |dP| <= 0.15, accuracy within 0.5 points of fp32 (compared on
counts of images). Native latency: batch-1 `session.run` on 1 thread, every file timed round-robin
(`catdog.measure.timing.run_interleaved`). Results: benchmarks/results/onnx_int8_recipes.{json,md}.
Needs onnx and onnxruntime (the [train] extra), not TensorFlow; run from the repository root:

    .venv/bin/python benchmarks/onnx_int8_recipes.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import click
import numpy as np

from catdog.export.emulated import EMULATED_CLASSES
from catdog.export.onnx_export import INT8_RECIPE, Int8Recipe
from catdog.measure.machine import describe_machine
from catdog.runtime.cpu import describe_cpu
from answers import TARGETS, score  # benchmarks/ is the script's own folder
from results_io import write_results

RESULTS = Path(__file__).resolve().parent / "results" / "onnx_int8_recipes"
FP32_MODEL = Path("runtime/models/catdog_fp32.onnx")
CALIBRATION = Path("export/samples/calibration")
VALIDATION = Path("export/samples/validation")
EMULATORS = {"qemu Haswell": list(EMULATED_CLASSES["avx2"].x86_command)}  # the one table of emulated classes

ARMS = (
    ("U8S8 per-channel, head float (shipped before)", Int8Recipe()),
    ("U8S8 per-channel reduce_range, head float", Int8Recipe(reduce_range=True)),
    ("U8S8 per-tensor, head float", Int8Recipe(per_channel=False)),
    ("U8S8 per-tensor reduce_range, head float", Int8Recipe(per_channel=False, reduce_range=True)),
    ("U8U8 per-channel, head float", Int8Recipe(weight="U8")),
    ("U8U8 per-tensor, head float", Int8Recipe(weight="U8", per_channel=False)),
    ("U8S8 per-channel, head and first Conv float", Int8Recipe(float_first_conv=True)),
    ("U8S8 per-channel reduce_range, head and first Conv float", Int8Recipe(reduce_range=True, float_first_conv=True)),
    ("U8S8 per-channel reduce_range, all quantized", Int8Recipe(reduce_range=True, float_head=False)),
)


def open_session(path: Path):
    """A 1-thread CPU session opened as OnnxEngine opens it (intra-op 1, no spinning)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def predict(session, images: np.ndarray) -> np.ndarray:
    """(N, K) probabilities of a catdog ONNX file (float raw pixels in), 50 images a call."""
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[start:start + 50].astype(np.float32)})[0]
                           for start in range(0, len(images), 50)])


def probe(folder: Path) -> None:
    """Run every file of `folder/files.json` on `folder/images.npy`; write probabilities and this CPU's class."""
    names = json.loads((folder / "files.json").read_text())
    images = np.load(folder / "images.npy")
    probabilities = {f"file{index}": predict(open_session(folder / f"file{index}.onnx"), images)
                     for index in range(len(names))}
    cpu = describe_cpu()
    np.savez(folder / f"probabilities_{cpu['class'].replace(' ', '_')}.npz", **probabilities)
    (folder / f"cpu_{cpu['class'].replace(' ', '_')}.json").write_text(json.dumps(cpu))
    print(cpu["class"])


def run_probe(folder: Path, *, prefix: list[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """Run `probe` in a subprocess (under an emulator when `prefix` names one); return its CPU and answers."""
    command = [*prefix, sys.executable, str(Path(__file__).resolve()), "--probe", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    if done.returncode != 0:
        raise click.ClickException(f"{' '.join(command[:4])} failed: {done.stderr.strip().splitlines()[-1:]}")
    tag = done.stdout.strip().splitlines()[-1].replace(" ", "_")
    cpu = json.loads((folder / f"cpu_{tag}.json").read_text())
    with np.load(folder / f"probabilities_{tag}.npz") as stored:
        return cpu, {key: stored[key] for key in stored.files}


def write_markdown(report: dict, path: Path) -> None:
    """The recipe table: answers on every class, native latency, and the verdict."""
    machine, classes = report["machine"], report["classes"]
    lines = ["# int8 ONNX recipes across CPU classes", "",
             f"Machine: {machine['cpu']} (class `{machine['cpu_class']}`, features {', '.join(machine['cpu_features'])}), "
             f"{machine['cores']} cores, 1-minute load average {machine['load_average']} at the start (shared machine); "
             f"onnxruntime {report['onnxruntime']}.",
             f"Source: `{report['fp32_model']}`; calibration: {report['calibration_images']} photos in "
             f"`{report['calibration']}`; checked on {report['validation_images']} photos in `{report['validation']}`.",
             "Classes: " + "; ".join(f"`{entry['class']}` ({entry['how']})" for entry in classes) + ".",
             f"Targets on every class: agreement with that class's fp32 answers >= {TARGETS['min_agreement_percent']:g}%, "
             f"max |dP| <= {TARGETS['max_abs_dp']:g}, accuracy within {TARGETS['max_accuracy_delta_points']:g} points "
             "of fp32 (compared on counts of images).",
             f"Latency: native only, batch 1, 1 intra-op thread, {report['runs']} interleaved runs per file.", ""]
    header = "| recipe | " + " | ".join(f"{entry['class']}: agreement, max abs dP, accuracy" for entry in classes)
    header += " | all targets | p50 ms (native) | p50 / fp32 |"
    lines += [header, "|---" * (len(classes) + 4) + "|"]
    for row in report["rows"]:
        cells = []
        for entry in classes:
            result = row["classes"][entry["class"]]
            if row["name"] == "fp32":
                cells.append(f"reference ({result['accuracy']:.1%})")
            else:
                cells.append(f"{result['agreement']:.1%} ({result['flips']} flips), {result['max_abs_dp']:.3f}, "
                             f"{result['accuracy']:.1%} ({result['accuracy_delta_points']:+.1f})")
        verdict = "-" if row["name"] == "fp32" else ("yes" if row["meets_targets"] else "no")
        lines.append(f"| {row['name']} | " + " | ".join(cells) +
                     f" | {verdict} | {row['latency_ms']['p50']:.3f} | {row['ratio_to_fp32']:.2f} |")
    lines += ["", f"fp32 across classes: max |dP| {report['fp32_cross_class_max_abs_dp']:.1e}.", "",
              f"Chosen (`catdog.export.onnx_export.INT8_RECIPE`): **{report['chosen']}**. {report['verdict']}", "",
              f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--runs", type=click.IntRange(min=50), default=2000, show_default=True,
              help="Timed batch-1 runs per file (native).")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
@click.option("--probe", "probe_folder", type=click.Path(path_type=Path), default=None, hidden=True,
              help="Internal: run the files of a work folder on this CPU.")
def main(runs, out, probe_folder):
    """Quantize the shipped fp32 ONNX with every recipe, check answers natively and under qemu, time natively."""
    if probe_folder is not None:
        probe(probe_folder)
        return
    import onnx
    import onnxruntime

    from catdog.export.calibration import load_calibration_images, load_validation_set
    from catdog.export.onnx_export import quantize_onnx_int8
    from catdog.measure.timing import run_interleaved, summarize
    from catdog.runtime.metadata import read_metadata, spec_from_metadata

    machine = describe_machine(threads=1)
    spec = spec_from_metadata(read_metadata(FP32_MODEL))
    calibration = load_calibration_images(CALIBRATION, spec=spec)
    validation = load_validation_set(VALIDATION, model_path=FP32_MODEL, spec=spec, shipped=True)
    names = ["fp32", *(name for name, _ in ARMS)]
    classes, answers = [], {}
    with tempfile.TemporaryDirectory(prefix="catdog-recipes-") as folder:
        folder = Path(folder)
        np.save(folder / "images.npy", validation.images)
        (folder / "files.json").write_text(json.dumps(names))
        shutil.copyfile(FP32_MODEL, folder / "file0.onnx")
        fp32_proto = onnx.load(str(FP32_MODEL))
        for index, (name, recipe) in enumerate(ARMS, start=1):
            onnx.save(quantize_onnx_int8(fp32_proto, calibration_images=calibration, recipe=recipe),
                      folder / f"file{index}.onnx")
            print(f"quantized: {name}", file=sys.stderr)
        for how, prefix in [("native", []), *((f"{name}, answers only", command) for name, command in EMULATORS.items())]:
            if prefix and shutil.which(prefix[0]) is None:
                raise click.ClickException(f"{prefix[0]} not found: apt-get install qemu-user-static")
            cpu, probabilities = run_probe(folder, prefix=prefix)
            classes.append({"class": cpu["class"], "how": how, "features": cpu["features"]})
            answers[cpu["class"]] = probabilities
            print(f"answers on {cpu['class']} ({how})", file=sys.stderr)
        sessions = {name: open_session(folder / f"file{index}.onnx") for index, name in enumerate(names)}
        pixels = np.random.default_rng(0).integers(0, 256, size=(1, *spec.input_shape)).astype(np.float32)
        calls = {name: (lambda session=session, input_name=session.get_inputs()[0].name:
                        session.run(None, {input_name: pixels})) for name, session in sessions.items()}
        timings, _ = run_interleaved(calls, warmup=200, min_runs=runs)
    native_class = classes[0]["class"]
    fp32_cross = max(float(np.abs(answers[entry["class"]]["file0"] - answers[native_class]["file0"]).max())
                     for entry in classes)
    rows = []
    for index, name in enumerate(names):
        recipe = None if index == 0 else ARMS[index - 1][1]
        per_class = {entry["class"]: score(answers[entry["class"]][f"file{index}"],
                                           fp32=answers[entry["class"]]["file0"], labels=validation.labels)
                     for entry in classes}
        rows.append({"name": name, "recipe": None if recipe is None else asdict(recipe), "classes": per_class,
                     "meets_targets": all(result["meets_targets"] for result in per_class.values()),
                     "latency_ms": summarize(timings[name])})
    for row in rows:
        row["ratio_to_fp32"] = row["latency_ms"]["p50"] / rows[0]["latency_ms"]["p50"]
    chosen = next(row for row in rows[1:] if row["recipe"] == asdict(INT8_RECIPE)) if any(
        row["recipe"] == asdict(INT8_RECIPE) for row in rows[1:]) else None
    if chosen is None:
        verdict = "The chosen recipe is not among the arms: add it."
    else:
        verdict = (f"On every class measured it {'meets' if chosen['meets_targets'] else 'MISSES'} the targets; "
                   f"natively ({native_class}) it runs at {chosen['ratio_to_fp32']:.2f}x the fp32 p50.")
    report = {"machine": machine, "onnxruntime": onnxruntime.__version__, "fp32_model": str(FP32_MODEL),
              "calibration": str(CALIBRATION), "calibration_images": int(len(calibration)),
              "validation": str(VALIDATION), "validation_images": int(len(validation.labels)), "runs": runs,
              "targets": TARGETS, "classes": classes, "fp32_cross_class_max_abs_dp": fp32_cross, "rows": rows,
              "chosen": INT8_RECIPE.describe(), "verdict": verdict,
              "command": " ".join(["python benchmarks/onnx_int8_recipes.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
