"""`catdog-run`: classify images, folders, globs, videos, URLs or a camera with a TFLite or ONNX model.

The import path is kept lean on purpose (click, numpy, Pillow; the engine is loaded inside
`run`), because a one-image run must finish, process start to exit, in well under a second.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from catdog.errors import exit_on_error


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sources", nargs=-1)
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None, show_default=True,
              help="Model file (.tflite, .onnx, or .keras with TensorFlow); default: the shipped int8 TFLite.")
@click.option("--camera", type=click.IntRange(min=0), default=None, show_default=True,
              help="Classify frames from camera N (needs catdog[camera]).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="Output: text lines, JSON Lines, or CSV with a header.")
@click.option("--threads", type=click.IntRange(min=1), default=None, show_default=True,
              help="Inference threads for the engine; default: the engine's own choice.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per inference call when classifying many files.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, show_default=True,
              help="Stop each video, URL or camera after this many classified frames.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Classify every Nth frame of videos, URLs and cameras.")
def main(sources, model, camera, output_format, threads, batch_size, max_frames, every):
    """Classify SOURCES (image files, folders, globs, video files, http/rtsp URLs) as cat or dog.

    Prints one line per input (or per frame) with label, confidence and capture-to-decision
    milliseconds, then a summary on stderr. Exits 1 if any input failed, 2 on usage errors.
    """
    # catdog-run never calls BLAS: OpenBLAS's thread pool, started by NumPy's import, only costs
    # ~30 ms and ~70 ms of CPU per process (benchmarks/folder_throughput.py). A user's value wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from catdog.runtime.runner import RunConfig, run

    config = RunConfig(sources=tuple(sources), model=model, camera=camera, output_format=output_format,
                       threads=threads, batch_size=batch_size, max_frames=max_frames, every=every)
    with exit_on_error():
        summary = run(config)
    sys.exit(1 if summary.errors else 0)


if __name__ == "__main__":
    main()
