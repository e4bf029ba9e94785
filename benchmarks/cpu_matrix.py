"""The CPU-class matrix: does every shipped model file give the same answers on every CPU class?

Every shipped int8 and fp32 file in `runtime/models` (plus, with `--twin`, an fp32 twin for a rung that
ships none) runs on the same photos (the 500 shipped validation photos in `export/samples/validation`, or a
seeded `--sample N` of them), through catdog's own runtime (its preprocessing at each file's size, its
engines), on four CPU classes:

- the native host, its class named by `catdog.runtime.cpu.describe_cpu()` (e.g. `x86-64 avx512_vnni`);
- `qemu-x86_64-static -cpu Haswell`: AVX2 without VNNI (`x86-64 avx2`; QEMU's TCG has no AVX-512);
- a Debian bookworm arm64 userland under qemu-aarch64 (`.ci/arm64-userland.sh`, root) as `cortex-a72`
  (Raspberry Pi 4, `aarch64`) and `cortex-a76` (Raspberry Pi 5, `aarch64 asimddp`).

Each int8 file is compared with the fp32 file of the same model ON THE SAME CLASS (label agreement, max
|dP|, accuracy; targets (benchmarks/answers.py): agreement >= 99%, max |dP| <= 0.15, accuracy within 0.5 points,
compared on counts of images, so a value equal to a limit passes). Every file is also compared with its
own answers on the native host (`vs native`): fp32 files must match to 1e-4, int8 TFLite files and files
without a twin must meet the targets there too (int8 ONNX kernels differ by architecture, so not those). Emulated speed
means nothing: only answers are compared. The JSON and Markdown results are rewritten as each class ends
(`complete` says whether all are in), so a stopped run keeps what it measured. Exits 1 if any target is
missed (CI uses that).

    python benchmarks/cpu_matrix.py                         # all four classes, results in benchmarks/results/
    python benchmarks/cpu_matrix.py --classes native,avx2 --sample 100 --out /tmp/matrix
    python benchmarks/cpu_matrix.py --twin runs/exported96/catdog96_fp32.onnx   # the 96x96 rung's fp32 twin

The arm64 classes need `.ci/arm64-userland.sh build` and `install` first (CATDOG_ARM64_WORKDIR as there).
`--worker` is the part that runs inside each class: it needs only catdog's base install (no TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/answers.py, also when run as the worker
from answers import TARGETS, score  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
RESULTS = REPOSITORY / "benchmarks" / "results" / "cpu_matrix"
PHOTOS = "export/samples/validation"
# The same 500 validation photos decoded at 96x96 (python -m catdog.export.samples --model
# runtime/models/catdog96/model.keras --out benchmarks/samples96): the 64x64 ones, upscaled, cost the 96x96
# rung 1.8 points and are not what it was calibrated and checked on.
PHOTOS96 = "benchmarks/samples96/validation"
FP32_MAX_ABS_DP = 1e-4  # an fp32 file on another class: float noise only
PREPARING = threading.Lock()
CLASSES = ("native", "avx2", "cortex-a72", "cortex-a76")  # the emulated ones: catdog.export.emulated's table


def describe_how(name: str) -> str:
    """What runs class NAME, for the table."""
    from catdog.export.emulated import EMULATED_CLASSES

    return "native" if name == "native" else EMULATED_CLASSES[name].how


def shipped_files(twins: list[str]) -> list[str]:
    """The shipped model files (relative to the repository), then the given fp32 twins."""
    files = sorted(str(path.relative_to(REPOSITORY)) for path in (REPOSITORY / "runtime" / "models").glob("*")
                   if path.suffix in (".onnx", ".tflite") and not path.name.startswith("."))  # not a partial export
    return files + list(twins)


def model_key(name: str) -> str:
    """Which model a file belongs to: `catdog96_int8.onnx` and `catdog96_fp32.onnx` share `catdog96`."""
    stem = Path(name).stem
    for suffix in ("_int8", "_fp32"):
        stem = stem.removesuffix(suffix)
    return stem


def sample_photos(folder: Path, *, sample: int | None) -> list[str]:
    """The photos (relative paths, sorted; the class is the parent folder's name); a seeded sample if asked."""
    from catdog.runtime.files import list_images

    photos = sorted(str(path.relative_to(REPOSITORY)) for path in list_images(folder).paths)
    if sample and sample < len(photos):
        chosen = np.random.default_rng(0).choice(len(photos), size=sample, replace=False)
        photos = [photos[index] for index in sorted(chosen)]
    return photos


def photo_set(name: str, photos: dict) -> str:
    """Which photo set a file runs on: its model's own (`--model-photos`), else the default set."""
    return model_key(name) if model_key(name) in photos else "default"


def work(files: list[str], photos: dict[str, list[str]], out: Path) -> None:
    """Inside one class: classify each file's photos with it; write probabilities and the CPU there."""
    from catdog.runtime.cpu import describe_cpu
    from catdog.runtime.engine import open_engine
    from catdog.runtime.preprocess import load_image

    stored, decoded, seconds = {}, {}, {}
    for name in files:
        started = time.perf_counter()
        engine = open_engine(REPOSITORY / name, threads=1)
        key = (tuple(engine.spec.image_size), photo_set(name, photos))
        if key not in decoded:
            decoded[key] = np.stack([load_image(REPOSITORY / photo, spec=engine.spec)
                                     for photo in photos[photo_set(name, photos)]])
        images = decoded[key]
        stored[name] = np.concatenate([engine.predict(images[start:start + 50]) for start in range(0, len(images), 50)])
        stored[f"{name}:labels"] = np.asarray(engine.labels)
        seconds[name] = round(time.perf_counter() - started, 2)
    np.savez(out / "probabilities.npz", **stored)
    (out / "cpu.json").write_text(json.dumps({**describe_cpu(), "python": platform.python_version(),
                                              "seconds": seconds}))


def run_class(name: str, *, files: list[str], photos: dict[str, list[str]], scratch: Path) -> tuple[dict, dict]:
    """Start the worker for class NAME; return its CPU description and {file: probabilities}."""
    from catdog.export.emulated import EMULATED_CLASSES, arm64_root, python_command

    job = {"files": files, "photos": photos}
    emulated = EMULATED_CLASSES.get(name)
    if emulated is not None and emulated.x86_command is None:  # the arm64 userland: the job goes in through its copy
        workdir = os.environ.get("CATDOG_ARM64_WORKDIR", "/root/catdog")
        inside = Path(workdir) / "runs" / f"cpu_matrix_{name}"
        folder = arm64_root() / inside.relative_to("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "job.json").write_text(json.dumps(job))
        copy = arm64_root() / workdir.lstrip("/")
        if not (copy / ".venv" / "bin" / "catdog-run").exists():
            raise SystemExit(f"cpu_matrix: no catdog install in the arm64 userland ({copy}): "
                             "run .ci/arm64-userland.sh build and install first")
        with PREPARING:  # two arm64 classes share the copy
            for item in files + [photo for group in photos.values() for photo in group]:
                # The clone's copy lacks what is not tracked (e.g. an exported twin).
                if not (copy / item).exists():
                    (copy / item).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPOSITORY / item, copy / item)
            for script in (Path(__file__), Path(__file__).with_name("answers.py")):  # this very script and its score
                shutil.copy2(script, copy / "benchmarks" / script.name)
        os.environ.setdefault("CATDOG_ARM64_USERLAND", str(REPOSITORY / ".ci" / "arm64-userland.sh"))
        command = [*python_command(name), "benchmarks/cpu_matrix.py", "--worker", str(inside)]
    else:
        folder = scratch / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "job.json").write_text(json.dumps(job))
        python = python_command(name) if emulated else [sys.executable]
        command = [*python, str(Path(__file__).resolve()), "--worker", str(folder)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPOSITORY)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"cpu_matrix: the {name} worker failed (exit {done.returncode}): {last}")
    cpu = json.loads((folder / "cpu.json").read_text())
    if emulated is not None and cpu["class"] != emulated.cpu_class:
        raise SystemExit(f"cpu_matrix: the {name} worker reports class {cpu['class']!r}, not "
                         f"{emulated.cpu_class!r}: the emulation is not the CPU it names")
    cpu["wall_seconds"] = round(time.perf_counter() - started, 1)
    with np.load(folder / "probabilities.npz") as stored:
        return cpu, {key: stored[key] for key in stored.files}


def build_rows(results: dict, *, files: list[str], photos: dict[str, list[str]]) -> list[dict]:
    """One row per file and class: int8 against the same class's fp32 twin; every file against native."""
    from catdog.runtime.prediction import decide

    rows = []
    fp32_of = {model_key(name): name for name in files if "_fp32" in Path(name).stem}
    for class_name, (cpu, answers) in results.items():
        for name in files:
            labels = [str(label) for label in answers[f"{name}:labels"]]
            truth = np.asarray([labels.index(Path(photo).parent.name) for photo in photos[photo_set(name, photos)]])
            twin = fp32_of.get(model_key(name))
            row = {"file": name, "class": class_name, "cpu_class": cpu["class"], "twin": twin}
            if "_int8" in Path(name).stem and twin:
                row["vs_twin"] = score(answers[name], fp32=answers[twin], labels=truth)
            if "native" in results:
                row["vs_native"] = score(answers[name], fp32=results["native"][1][name], labels=truth)
            row["accuracy"] = float((decide(answers[name]) == truth).mean())
            checks = [row["vs_twin"]["meets_targets"]] if "vs_twin" in row else []
            if "vs_native" in row:
                if "_fp32" in Path(name).stem:  # float noise only, on every class
                    checks.append(row["vs_native"]["max_abs_dp"] <= FP32_MAX_ABS_DP)
                elif "vs_twin" not in row or name.endswith(".tflite"):
                    # A file without a twin, and TFLite (whose int8 kernels match across architectures),
                    # must also hold its native answers.
                    checks.append(row["vs_native"]["meets_targets"])
            row["meets_targets"] = all(checks) if checks else None
            rows.append(row)
    return rows


def write_markdown(report: dict, path: Path) -> None:
    """The matrix: one row per file, one column per class."""
    classes = report["classes"]
    lines = ["# CPU-class matrix: the shipped files' answers on every CPU class", "",
             f"`{report['command']}` on {report['host']}. {report['images']} photos from `{report['photos']}` "
             "(each file at its own size, through catdog's runtime); "
             + ", ".join(f"`{key}*` files: the same photos at their size, `{folder}`" for key, folder in report["model_photos"].items())
             + ". Emulated classes: answers only.", ""]
    if not report.get("complete", True):
        lines += [f"**Incomplete**: {len(classes)} classes done so far; the run is still going or was stopped.", ""]
    for name, cpu in classes.items():
        lines.append(f"- **{name}** ({describe_how(name)}): `{cpu['class']}`, {cpu['model']} (features {', '.join(cpu['features']) or '-'}), "
                     f"Python {cpu['python']}, {cpu['wall_seconds']} s")
    lines += ["", f"Targets: agreement >= {TARGETS['min_agreement_percent']:g}%, max |dP| <= {TARGETS['max_abs_dp']:g}, "
              f"accuracy within {TARGETS['max_accuracy_delta_points']:g} points of the reference (counts of images). "
              "An int8 file's reference is its fp32 twin on the same class; int8 TFLite files and files without a "
              "twin are also held to their native answers, and fp32 files to "
              f"max |dP| <= {FP32_MAX_ABS_DP:g} against theirs.", "",
              "| file | reference | " + " | ".join(f"{name} (`{cpu['class']}`)" for name, cpu in classes.items()) + " |",
              "|---|---|" + "---|" * len(classes)]
    for name in report["files"]:
        cells, reference = [], "-"
        for class_name in classes:
            row = next(item for item in report["rows"] if item["file"] == name and item["class"] == class_name)
            result = row.get("vs_twin") or row.get("vs_native")
            reference = "fp32 twin, same class" if "vs_twin" in row else "native answers"
            if result is None:  # an fp32 file, and no native run to hold it to
                cells.append("reference")
                continue
            verdict = "" if row["meets_targets"] is not False else " **MISSED**"
            cells.append(f"{result['agreement']:.1%} ({result['flips']} flips), dP {result['max_abs_dp']:.3f}, "
                         f"{result['accuracy']:.1%} vs {result['reference_accuracy']:.1%}{verdict}")
        lines.append(f"| `{Path(name).name}` | {reference} | " + " | ".join(cells) + " |")
    lines += ["", "Every file against its own answers on the native host (flips, max |dP|); int8 ONNX kernels differ by "
              "architecture, so an int8 ONNX file is held to its fp32 twin above, not to these:", "",
              "| file | " + " | ".join(classes) + " |", "|---|" + "---|" * len(classes)]
    for name in report["files"]:
        cells = []
        for class_name in classes:
            row = next(item for item in report["rows"] if item["file"] == name and item["class"] == class_name)
            native = row.get("vs_native")
            cells.append(f"{native['flips']}, {native['max_abs_dp']:.1e}" if native else "-")
        lines.append(f"| `{Path(name).name}` | " + " | ".join(cells) + " |")
    lines.append("")
    from catdog.folders import write_text_atomically

    write_text_atomically(path, "\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", default=",".join(CLASSES), help="Comma list of: " + ", ".join(CLASSES))
    parser.add_argument("--sample", type=int, default=None, help="A seeded sample of this many photos (default: all).")
    parser.add_argument("--photos", default=PHOTOS, help="Labelled photos (class folders), inside the repository.")
    parser.add_argument("--twin", action="append", default=[], help="An fp32 twin for a rung that ships none.")
    parser.add_argument("--model-photos", action="append", default=[], metavar="MODEL=FOLDER",
                        help="Photos at a rung's own size for its files (default: catdog96=" + PHOTOS96 + ").")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Results path without suffix (.json, .md).")
    parser.add_argument("--jobs", type=int, default=1, help="Classes run at once (one process each; default 1).")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        job = json.loads((arguments.worker / "job.json").read_text())
        work(job["files"], job["photos"], arguments.worker)
        return 0
    classes = [name.strip() for name in arguments.classes.split(",") if name.strip()]
    unknown = [name for name in classes if name not in CLASSES]
    if unknown:
        parser.error(f"unknown class {unknown[0]!r}: choose from {', '.join(CLASSES)}")
    files = shipped_files(arguments.twin)
    photos = {"default": sample_photos(REPOSITORY / arguments.photos, sample=arguments.sample)}
    model_photos = dict(item.split("=", 1) for item in arguments.model_photos) or {"catdog96": PHOTOS96}
    for key, folder in model_photos.items():
        photos[key] = sample_photos(REPOSITORY / folder, sample=arguments.sample)
    results = {}

    def one(name: str, scratch: Path) -> tuple[dict, dict]:
        print(f"cpu_matrix: {name}: {len(files)} files on {len(photos['default'])} photos each", file=sys.stderr,
              flush=True)
        result = run_class(name, files=files, photos=photos, scratch=scratch)
        print(f"cpu_matrix: {name} is `{result[0]['class']}` ({result[0]['wall_seconds']} s)", file=sys.stderr,
              flush=True)
        return result

    from catdog.folders import write_text_atomically
    from catdog.runtime.cpu import describe_cpu

    host = describe_cpu()

    def write_report(done: dict) -> list[dict]:
        """The report of the classes done so far (rewritten as each one ends: a killed run keeps them)."""
        done = {name: done[name] for name in classes if name in done}  # the table's order, not the finishing order
        rows = build_rows(done, files=files, photos=photos)
        report = {"command": "python benchmarks/cpu_matrix.py " + " ".join(sys.argv[1:]),
                  "host": f"{host['model']} (`{host['class']}`), {os.cpu_count()} cores",
                  "photos": arguments.photos, "images": len(photos["default"]), "model_photos": model_photos,
                  "targets": TARGETS, "files": files, "complete": len(done) == len(classes),
                  "classes": {name: {**done[name][0], "how": describe_how(name)} for name in classes if name in done},
                  "rows": rows}
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(arguments.out.with_suffix(".json"), json.dumps(report, indent=1) + "\n")
        write_markdown(report, arguments.out.with_suffix(".md"))
        return rows

    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(max_workers=arguments.jobs) as pool:
        # Each worker is one single-threaded process: --jobs 2 runs two classes at once on a 2-core host.
        futures = {pool.submit(one, name, Path(scratch)): name for name in classes}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            rows = write_report(results)
    out = arguments.out
    missed = [row for row in rows if row["meets_targets"] is False]
    for row in missed:
        result = row.get("vs_twin") or row.get("vs_native")
        print(f"cpu_matrix: MISSED: {row['file']} on {row['class']}: agreement {result['agreement']:.1%}, "
              f"max |dP| {result['max_abs_dp']:.3f}, accuracy {result['accuracy']:.1%} vs {result['reference_accuracy']:.1%}",
              file=sys.stderr)
    print(f"cpu_matrix: {len(rows) - len(missed)} of {len(rows)} file x class rows meet the targets; "
          f"wrote {out.with_suffix('.md')}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
