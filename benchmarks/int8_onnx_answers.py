"""Do the shipped int8 ONNX files hold their fp32 twins' answers on every CPU class this host can reach?

For each pair (int8 file, fp32 file of the same Keras model) the files run on the 500 shipped validation
photos at the model's own size (`export/samples/validation` at 64x64; the same photos at 96x96 from
`python -m catdog.export.samples --model runtime/models/catdog96/model.keras --out runs/samples96`) natively and under
`qemu-x86_64-static -cpu Haswell` (AVX2, no VNNI; answers only), through the probe of
benchmarks/onnx_int8_recipes.py. Each int8 file is compared with its fp32 twin on the same class;
targets: agreement >= 99%, max |dP| <= 0.15, accuracy within 0.5 points. The 96x96 rung ships no fp32
ONNX file: pass one exported with `catdog-export runtime/models/catdog96/model.keras --fp32 --format onnx`.
Results: benchmarks/results/int8_onnx_answers.{json,md}.

    .venv/bin/python benchmarks/int8_onnx_answers.py \\
        --pair runtime/models/catdog_int8.onnx runtime/models/catdog_fp32.onnx export/samples/validation \\
        --pair runtime/models/catdog96_int8.onnx runs/exported96/catdog96_fp32.onnx runs/samples96/validation
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

from catdog.measure.machine import describe_machine
from answers import TARGETS, score  # benchmarks/ is on sys.path
from onnx_int8_recipes import EMULATORS, run_probe
from results_io import write_results

RESULTS = Path(__file__).resolve().parent / "results" / "int8_onnx_answers"


def write_markdown(report: dict, path: Path) -> None:
    """One row per int8 file and class."""
    machine = report["machine"]
    lines = ["# Shipped int8 ONNX files against their fp32 twins, per CPU class", "",
             f"Host: {machine['cpu']} (class `{machine['cpu_class']}`), 1-minute load average "
             f"{machine['load_average']}; {report['validation_images']} validation photos per model (folder in the table).",
             f"Targets: agreement >= {TARGETS['min_agreement_percent']:g}%, max |dP| <= {TARGETS['max_abs_dp']:g}, "
             f"accuracy within {TARGETS['max_accuracy_delta_points']:g} points of the fp32 twin on the same class.", "",
             "| int8 file | fp32 twin | photos | class (how) | agreement | max abs dP | accuracy (fp32) | targets |",
             "|---|---|---|---|---:|---:|---:|---|"]
    for row in report["rows"]:
        result = row["result"]
        lines.append(f"| {row['int8']} | {row['fp32']} | {row['photos']} | {row['class']} ({row['how']}) | {result['agreement']:.1%} "
                     f"({result['flips']} flips) | {result['max_abs_dp']:.3f} | {result['accuracy']:.1%} "
                     f"({row['fp32_accuracy']:.1%}) | {'met' if result['meets_targets'] else 'MISSED'} |")
    lines += ["", f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--pair", "pairs", nargs=3, multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="An int8 ONNX file, its fp32 twin, and the labelled photos at their size (class folders).")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(pairs, out):
    """Run each pair natively and under qemu Haswell and compare int8 with fp32 on each class."""
    from catdog.export.calibration import load_validation_set
    from catdog.runtime.metadata import read_metadata, spec_from_metadata
    from catdog.runtime.prediction import decide

    machine, rows, count = describe_machine(threads=1), [], 0
    for int8_path, fp32_path, val_dir in pairs:
        spec = spec_from_metadata(read_metadata(fp32_path))
        validation = load_validation_set(val_dir, model_path=fp32_path, spec=spec, shipped=True)
        count = len(validation.labels)
        with tempfile.TemporaryDirectory(prefix="catdog-answers-") as folder:
            folder = Path(folder)
            np.save(folder / "images.npy", validation.images)
            (folder / "files.json").write_text(json.dumps([str(fp32_path), str(int8_path)]))
            shutil.copyfile(fp32_path, folder / "file0.onnx")
            shutil.copyfile(int8_path, folder / "file1.onnx")
            for how, prefix in [("native", []), *((f"{name}, answers only", command) for name, command in EMULATORS.items())]:
                cpu, answers = run_probe(folder, prefix=prefix)
                result = score(answers["file1"], fp32=answers["file0"], labels=validation.labels)
                fp32_accuracy = float((decide(answers["file0"]) == validation.labels).mean())
                rows.append({"int8": str(int8_path), "fp32": str(fp32_path), "photos": str(val_dir),
                             "class": cpu["class"], "how": how,
                             "result": result, "fp32_accuracy": fp32_accuracy})
                print(f"{int8_path} on {cpu['class']}: {result['agreement']:.1%}, {result['max_abs_dp']:.3f}",
                      file=sys.stderr)
    report = {"machine": machine, "validation_images": int(count), "targets": TARGETS,
              "rows": rows, "all_met": all(row["result"]["meets_targets"] for row in rows),
              "command": " ".join(["python benchmarks/int8_onnx_answers.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
