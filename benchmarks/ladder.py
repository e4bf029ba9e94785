"""The accuracy-latency ladder: `catdog-bench` on every shipped rung's int8 files, with accuracy on the
800-photo validation split and the bench's latency-vs-accuracy plot.

The rungs are the shipped default (`runtime/models/catdog_int8.*`) and every `runtime/models/catdogN/`
(`catdogN_int8.*`). Accuracy is measured on the validation split that the shipped default's card
records (the same stratified, name-hashed split every rung was validated on): its files are linked
into a temporary folder of class subfolders, which `catdog-bench --data` reads. Without the dataset
(`--data`), the 500 validation-split photos shipped in export/samples/validation stand in. Never a
test set.

    python benchmarks/ladder.py --data ../shared/datasets/cats_and_dogs [CANDIDATE.tflite ...]

CANDIDATE files (e.g. an unshipped rung's int8 exports) are benched beside the shipped ones.

Writes benchmarks/results/ladder_bench.{json,md} (catdog-bench's own table, plus a ladder summary)
and benchmarks/results/ladder.png (accuracy against p50 latency).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SAMPLES = ROOT / "export" / "samples" / "validation"


def link_validation_split(data: Path, *, card: dict, folder: Path) -> int:
    """Link the card's validation split of `data` into `folder/<class>/`; return how many files."""
    from catdog.train.data import list_labelled_files, split_files

    _, validation = split_files(list_labelled_files(data), val_fraction=card["data"]["val_fraction"])
    for index, (path, label) in enumerate(zip(validation.paths, validation.labels)):
        target = folder / validation.class_names[label]
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{index:05d}{path.suffix}").symlink_to(path.resolve())
    return len(validation.paths)


def rung_files(models_dir: Path) -> list[Path]:
    """The int8 TFLite and ONNX files of every rung, smallest input first (the default is catdog_int8.*)."""
    def size(path: Path) -> int:
        digits = path.name.split("_")[0].removeprefix("catdog")
        return int(digits) if digits.isdigit() else 0

    files = [path for path in models_dir.glob("catdog*_int8.*") if path.suffix in (".tflite", ".onnx")]
    return sorted(files, key=lambda path: (path.suffix != ".tflite", size(path)))


@click.command(context_settings={"show_default": True})
@click.argument("candidates", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=Path("../shared/datasets/cats_and_dogs"),
              help="The shipped models' training folder; its validation split is measured (else the shipped samples).")
@click.option("--threads", type=int, default=1, help="Inference threads.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS / "ladder_bench", help="Results path without suffix.")
def main(candidates: tuple[Path, ...], data: Path, threads: int, out: Path) -> None:
    """Bench every shipped rung's int8 files with accuracy on the validation split, and plot the ladder."""
    from catdog.runtime.models import MODELS_DIR

    card = json.loads((MODELS_DIR / "card.json").read_text())
    files = rung_files(MODELS_DIR) + list(candidates)
    folder = Path(tempfile.mkdtemp(prefix="catdog-ladder-"))
    try:
        if data.is_dir():
            count = link_validation_split(data, card=card, folder=folder)
            measured_on = f"the {count}-photo validation split of {data.name} (val fraction {card['data']['val_fraction']})"
            accuracy_data = folder
        else:
            measured_on, accuracy_data = f"the shipped validation samples ({SAMPLES.relative_to(ROOT)})", SAMPLES
        command = [str(Path(sys.executable).parent / "catdog-bench"), *map(str, files), "--data", str(accuracy_data),
                   "--threads", str(threads), "--json", str(out.with_suffix(".json")),
                   "--markdown", str(out.with_suffix(".md")), "--plot", str(out.parent / "ladder.png")]
        print("$ " + " ".join(command), file=sys.stderr, flush=True)
        subprocess.run(command, check=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = {row["model"]: row for row in json.loads(out.with_suffix(".json").read_text())}
    lines = ["", "## The ladder", "",
             f"Accuracy on {measured_on}; p50 at batch 1, {threads} thread(s). Plot: `ladder.png`.", "",
             "| file | val accuracy | p50 ms | vs the 64x64 default's p50 |", "|---|---:|---:|---:|"]
    for path in files:
        row = rows[path.name]
        default = rows[f"catdog_int8{path.suffix}"]["latency_ms"]["p50"]
        lines.append(f"| {path.name} | {row['accuracy']:.2%} | {row['latency_ms']['p50']:.3f} | "
                     f"{row['latency_ms']['p50'] / default:.1f}x |")
    shown = " ".join(str(path) for path in candidates)
    lines += ["", f"Command: `python benchmarks/ladder.py --data {data}{' ' + shown if shown else ''}`", ""]
    with open(out.with_suffix(".md"), "a", encoding="utf-8") as stream:
        stream.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
