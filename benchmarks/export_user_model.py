"""Measure `catdog-export --int8` on a user's own 64x64 notebook model (target <= 60 s here).

The user's model is the seed notebook's: its subclassed tf.keras MiniResNet (265,665
parameters), built with tf_keras exactly as `tests/test_export_byom.py` builds it, fitted one
short epoch on generated 0..1 images and saved as a SavedModel folder, the slowest input export
accepts (TensorFlow loads it through its signature). The command is the README's worked example,

    catdog-export MODEL_DIR --int8 --pixel-range 0,1 --labels cat,dog --calib CALIB_DIR --out <tmp>

run as a fresh process each time (TensorFlow import included), writing and verifying the int8
TFLite and int8 ONNX files on 256 generated calibration images. Results go to
benchmarks/results/export_user_model.{json,md}.

    .venv/bin/python benchmarks/export_user_model.py [--repeats 3]     # needs the [dev] extras
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from export_speed import RESULTS, describe_runs, machine, run_once, summarize_runs  # noqa: E402


def make_user_model(folder: Path) -> tuple[Path, Path]:
    """Save the fitted seed model as a SavedModel folder and 256 calibration PNGs; return both paths."""
    import tf_keras
    from test_export_byom import build_seed_model, colour_images, write_images

    tf_keras.utils.set_random_seed(0)
    model = build_seed_model()
    images, labels = colour_images(256, seed=0)
    model.compile(optimizer=tf_keras.optimizers.Adam(0.001), loss="binary_crossentropy")
    model.fit(images / 255.0, labels, epochs=1, batch_size=32, verbose=0)
    model.save(folder / "seed_model")
    return folder / "seed_model", write_images(folder / "calib", colour_images(256, seed=1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    executable = shutil.which("catdog-export") or str(ROOT / ".venv/bin/catdog-export")
    host = machine()
    with tempfile.TemporaryDirectory(prefix="catdog-user-model-") as folder:
        model, calib = make_user_model(Path(folder))
        command = [executable, str(model), "--int8", "--pixel-range", "0,1", "--labels", "cat,dog", "--calib", str(calib)]
        runs = [run_once(command) for _ in range(arguments.repeats)]
    seconds = [run[0] for run in runs]
    sizes, table = runs[-1][1], runs[-1][2]
    result = {
        "command": "catdog-export seed_model --int8 --pixel-range 0,1 --labels cat,dog --calib calib --out <tmp>",
        "model": "seed notebook MiniResNet (tf_keras, subclassed, 265,665 parameters), SavedModel folder, 64x64",
        "calibration_images": 256,
        "machine": host,
        **summarize_runs(seconds),
        "sizes_bytes": sizes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_user_model.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# catdog-export --int8 on a user's 64x64 notebook model", "",
        f"- Model: {result['model']}",
        f"- Command: `{result['command']}` (fresh process each run, TensorFlow import included)",
        *describe_runs(host, result),
        "- Files: " + ", ".join(f"{name} {size / 1024:.1f} KB" for name, size in sizes.items()),
        "", "Last run's summary:", "", table, "",
    ]
    (RESULTS / "export_user_model.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
