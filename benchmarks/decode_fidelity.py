"""Decode fidelity and speed: the libjpeg-turbo fast path (runtime/jpeg.py) against Pillow's draft decode.

For every photo in fullres_sample (200 full-resolution JPEGs), decodes it to the model's input:

  pillow      what `load_image` did before runtime/jpeg.py: Pillow, `draft` (DCT scaling),
              EXIF transpose, RGB, bilinear resize
  simplejpeg  `load_image` now: simplejpeg (libjpeg-turbo) at the same DCT scale, orientation
              from the EXIF block, the same Pillow resize
  opencv      for comparison only: `cv2.imdecode(IMREAD_REDUCED_COLOR_2/4/8)` at the scale draft
              would pick, then the same Pillow resize (skipped without OpenCV)

and reports, against pillow: mean and max absolute pixel difference, identical images, label
agreement and accuracy of the shipped model (and of every other model given), plus CPU ms per
decode on one thread (interleaved repetitions, median) and decodes/s on 1 and 2 threads
(simplejpeg and OpenCV release the GIL for the whole decode; Pillow's decode loop does not).
The target: mean difference at most 1.0 (of 255) and at least 99.5% label agreement, else the
shipped model should be retrained on the new decode. Results go to
benchmarks/results/decode_fidelity.{json,md}.

    .venv/bin/python benchmarks/decode_fidelity.py --data /work/shared/datasets/cats_and_dogs/fullres_sample
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import click
import numpy as np
from PIL import Image

from catdog.measure.machine import describe_machine
from catdog.runtime import jpeg
from catdog.runtime.engine import open_engine
from catdog.runtime.models import default_model_path
from catdog.runtime.preprocess import load_image, open_image, prepare_image, resize_to_array
from catdog.runtime.sources import list_folder
from results_io import write_results  # benchmarks/ is the script's own folder

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cats_and_dogs" / "fullres_sample"  # ../shared beside the repo
RESULTS = Path(__file__).resolve().parent / "results" / "decode_fidelity"
MAX_MEAN_DIFFERENCE = 1.0
MIN_AGREEMENT = 0.995


def decode_pillow(path: Path, spec) -> np.ndarray:
    """The Pillow-only path of load_image (draft, EXIF transpose, RGB, resize)."""
    with open_image(path) as image:
        return prepare_image(image, spec=spec)


def decode_fast(path: Path, spec) -> np.ndarray:
    """load_image as it is now: the fast path first."""
    return load_image(path, spec=spec)


def make_opencv_decoder():
    """An OpenCV reduced-resolution decode with the draft scale, or None without OpenCV."""
    try:
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(1)
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}

    def decode_opencv(path: Path, spec) -> np.ndarray:
        data = path.read_bytes()
        header = jpeg.read_jpeg_header(data)
        scale = jpeg.draft_scale(header.width, header.height, target=spec.image_size)
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags[scale])[..., ::-1]
        return resize_to_array(Image.fromarray(np.ascontiguousarray(pixels)), spec=spec)

    return decode_opencv


def cpu_ms_per_image(decoders: dict, paths: list[Path], spec, *, repeats: int) -> dict[str, float]:
    """Median CPU ms per decode of each decoder, the decoders interleaved pass by pass."""
    samples: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(repeats):
        for name, decode in decoders.items():
            started = time.process_time()
            for path in paths:
                decode(path, spec)
            samples[name].append((time.process_time() - started) * 1000 / len(paths))
    return {name: round(float(np.median(values)), 3) for name, values in samples.items()}


def decodes_per_second(decode, paths: list[Path], spec, *, threads: int) -> tuple[float, float]:
    """Wall-clock decodes/s and CPU-seconds per wall-second with `threads` threads sharing the paths."""
    shares = [paths[index::threads] for index in range(threads)]
    workers = [threading.Thread(target=lambda share=share: [decode(path, spec) for path in share]) for share in shares]
    started, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - started
    return len(paths) / wall, (time.process_time() - cpu) / wall


def thread_scaling(decoders: dict, paths: list[Path], spec, *, repeats: int) -> dict[str, dict[str, float]]:
    """Median decodes/s and cores used on 1 and 2 threads, decoders and thread counts interleaved."""
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for name, decode in decoders.items():
            for threads in (1, 2):
                samples.setdefault((name, threads), []).append(decodes_per_second(decode, paths, spec, threads=threads))
    result: dict[str, dict[str, float]] = {}
    for (name, threads), values in samples.items():
        result.setdefault(name, {})[f"decodes_per_second_{threads}_thread{'s' if threads > 1 else ''}"] = \
            round(float(np.median([value[0] for value in values])), 1)
        result[name][f"cores_used_{threads}_thread{'s' if threads > 1 else ''}"] = \
            round(float(np.median([value[1] for value in values])), 2)
    return result


def compare(reference: np.ndarray, candidate: np.ndarray, engines: list, truth: np.ndarray) -> dict:
    """Pixel and label differences of a candidate decode against the reference decode."""
    difference = np.abs(reference.astype(np.int16) - candidate.astype(np.int16))
    per_image = difference.reshape(len(reference), -1).max(axis=1)
    result = {"pixel_mean_abs_difference": round(float(difference.mean()), 4),
              "pixel_max_abs_difference": int(difference.max()),
              "images_identical": f"{int((per_image == 0).sum())}/{len(reference)}", "models": {}}
    for engine in engines:
        before = label_indices(engine.predict(reference))
        after = label_indices(engine.predict(candidate))
        result["models"][engine.path.name] = {
            "label_agreement": round(float((before == after).mean()), 4),
            "accuracy_reference": round(float((before == truth).mean()), 4),
            "accuracy_candidate": round(float((after == truth).mean()), 4)}
    return result


def label_indices(probabilities: np.ndarray) -> np.ndarray:
    """(N,) P(labels[1]) or (N, K) probabilities -> label indices, ties to the later label."""
    values = np.asarray(probabilities, dtype=np.float32)
    if values.ndim == 1 or values.shape[-1] == 1:
        return (values.reshape(-1) >= 0.5).astype(int)
    return values.shape[1] - 1 - np.argmax(values[:, ::-1], axis=1)


def write_markdown(report: dict, path: Path) -> None:
    """The human-readable summary next to the JSON."""
    machine = report["machine"]
    lines = ["# JPEG decode: libjpeg-turbo fast path vs Pillow draft", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores (load average {machine['load_average']} at the "
             f"start). Data: {report['images']} full-resolution JPEGs from `{report['data']}`. "
             f"Decoders: simplejpeg {report['versions']['simplejpeg']}, Pillow {report['versions']['pillow']}"
             f"{', OpenCV ' + report['versions']['opencv'] if report['versions'].get('opencv') else ''}. "
             f"{report['fast_path_images']} of {report['images']} photos took the fast path (the rest: Pillow).",
             "Decodes/s on 2 threads only mean something when 2 cores are free: see the cores-used figure.", "",
             "| decoder | CPU ms per image (1 thread) | decodes/s, 1 thread | decodes/s, 2 threads (cores used) | "
             "mean abs pixel difference vs Pillow | max | identical images | label agreement (first model) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in report["decoders"].items():
        fidelity = row.get("fidelity") or {}
        models = list((fidelity.get("models") or {}).values())
        agreement = models[0]["label_agreement"] if models else "-"
        lines.append(f"| {name} | {row['cpu_ms_per_image']} | {row['decodes_per_second_1_thread']:.0f} | "
                     f"{row['decodes_per_second_2_threads']:.0f} ({row['cores_used_2_threads']}) | {fidelity.get('pixel_mean_abs_difference', '-')} | "
                     f"{fidelity.get('pixel_max_abs_difference', '-')} | {fidelity.get('images_identical', '-')} | "
                     f"{agreement} |")
    lines += ["", "Accuracy per model, Pillow decode vs fast path: "
              + "; ".join(f"`{name}` {value['accuracy_reference']} vs {value['accuracy_candidate']}"
                          for name, value in report["decoders"]["simplejpeg (load_image)"]["fidelity"]["models"].items()),
              "", f"Target (mean difference <= {MAX_MEAN_DIFFERENCE}, agreement >= {MIN_AGREEMENT:.1%}): "
              f"{report['verdict']}", "", f"Command: `{report['command']}`", ""]
    path.write_text("\n".join(lines))


@click.command()
@click.option("--model", "model_paths", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Models whose labels are compared (repeatable); default: the shipped default model.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=PHOTOS,
              show_default=True, help="Folder of JPEG photos in class-named subfolders (cats/, dogs/).")
@click.option("--repeats", type=click.IntRange(min=1), default=7, show_default=True,
              help="Interleaved timing passes per decoder.")
@click.option("--out", type=click.Path(path_type=Path), default=RESULTS, show_default=True,
              help="Results path without suffix.")
def main(model_paths, data, repeats, out):
    """Compare the fast JPEG path with Pillow's draft decode, and write JSON and Markdown."""
    import PIL
    import simplejpeg

    engines = [open_engine(path) for path in (model_paths or [default_model_path()])]
    spec = engines[0].spec
    paths = list_folder(data)
    truth = np.array([engines[0].labels.index(path.parent.name.rstrip("s")) for path in paths])
    decoders = {"pillow (draft)": decode_pillow, "simplejpeg (load_image)": decode_fast}
    versions = {"simplejpeg": simplejpeg.__version__, "pillow": PIL.__version__}
    opencv = make_opencv_decoder()
    if opencv is not None:
        import cv2

        decoders["opencv (IMREAD_REDUCED)"] = opencv
        versions["opencv"] = cv2.__version__
    machine = describe_machine(threads=1)
    decoded = {name: np.stack([decode(path, spec) for path in paths]) for name, decode in decoders.items()}
    timing = cpu_ms_per_image(decoders, paths, spec, repeats=repeats)
    scaling = thread_scaling(decoders, paths * 3, spec, repeats=repeats)
    rows = {}
    for name in decoders:
        rows[name] = {"cpu_ms_per_image": timing[name], **scaling[name],
                      "fidelity": None if name.startswith("pillow") else compare(
                          decoded["pillow (draft)"], decoded[name], engines, truth)}
    fast = rows["simplejpeg (load_image)"]["fidelity"]
    worst_agreement = min(model["label_agreement"] for model in fast["models"].values())
    passed = fast["pixel_mean_abs_difference"] <= MAX_MEAN_DIFFERENCE and worst_agreement >= MIN_AGREEMENT
    fast_path_images = sum(jpeg.read_jpeg(path, min_size=spec.image_size) is not None for path in paths)
    report = {"machine": machine, "data": str(data), "images": len(paths), "fast_path_images": fast_path_images,
              "versions": versions,
              "models": [str(engine.path) for engine in engines], "decoders": rows,
              "verdict": (f"mean difference {fast['pixel_mean_abs_difference']}, agreement {worst_agreement:.1%}: "
                          f"{'PASS, no retraining needed' if passed else 'FAIL: retrain on the new decode'}"),
              "command": " ".join(["python benchmarks/decode_fidelity.py", *sys.argv[1:]])}
    write_results(report, out, write_markdown=write_markdown)
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
