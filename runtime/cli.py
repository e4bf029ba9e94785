"""`catdog-run`: classify images, folders, globs, videos, URLs or a camera with a TFLite or ONNX model.

The import path is kept lean on purpose (click, numpy, Pillow; the engine is loaded inside
`run`), because a one-image run must finish, process start to exit, in well under a second.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from catdog.clikit import RecordedCommand

from catdog.errors import exit_on_error, terminate_cleanly

# Literal copies of the library defaults, so that `--help` does not import the runtime:
# catdog.runtime.live_capture.DEFAULT_STREAM_TIMEOUT and catdog.runtime.preprocess.DEFAULT_MAX_PIXELS
# (tests/test_hardening.py checks they agree).
DEFAULT_STREAM_TIMEOUT = 30.0
DEFAULT_MAX_PIXELS = 50_000_000


class CameraType(click.ParamType):
    """`--camera`: an OpenCV/V4L2 camera index N, or `picam` / `picam:N` for a Raspberry Pi CSI camera."""

    name = "N|picam[:N]"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or str(value).strip().isdigit():
            return int(value)
        from catdog.runtime.live_picamera import parse_picamera

        number = parse_picamera(value)
        if number is None:
            self.fail(f"{value!r} is not a camera: give an index such as 0, or picam / picam:N", param, ctx)
        return f"picam:{number}"


def looks_like_address(text: str) -> bool:
    """Tell a Ray address (`local`, `auto`, `HOST:PORT`, `ray://...`) from a source after a bare `--ray`."""
    if os.path.exists(text):
        return False
    return text in ("local", "auto") or text.startswith("ray://") or bool(re.fullmatch(r"[\w.\-\[\]:]+:\d+", text))


@click.command(cls=RecordedCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sources", nargs=-1)
@click.option("--model", type=click.Path(dir_okay=False, path_type=Path), default=None, show_default=True,
              help="Model file (.tflite, .onnx, or .keras with TensorFlow); default: the shipped file fastest on "
                   "this CPU class among those verified on it (--verbose says which).")
@click.option("--camera", type=CameraType(), default=None, show_default=True,
              help="Classify frames from camera N through OpenCV (needs catdog[camera]), or from a Raspberry Pi "
                   "camera: picam, or picam:N for the Nth (Picamera2: sudo apt install python3-picamera2).")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "csv"]), default=None,
              help="Output: text lines, JSON Lines (probabilities keyed by the model's labels), "
                   "or CSV with a header (one p_<label> column per label). Default: text, or what --out's "
                   "suffix names (.jsonl, .csv).")
@click.option("--top-k", "top_k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Show the N most probable of the model's labels on each text line (and as a top_k list in JSON).")
@click.option("--threads", type=click.IntRange(min=1), default=None, show_default=True,
              help="Inference threads for the engine; default: the engine's own choice.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
              help="Images per inference call when classifying many files.")
@click.option("--max-frames", type=click.IntRange(min=1), default=None, show_default=True,
              help="Stop each video, URL or camera after this many classified frames.")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Classify every Nth frame of videos, URLs and cameras.")
@click.option("--stream-timeout", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_STREAM_TIMEOUT,
              show_default=True, help="Give up on a URL or camera that delivers no frame for this many seconds.")
@click.option("--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse (as an error record) images that would decode to more pixels; JPEGs count after "
                   "reduced-scale decoding. 0: no limit.")
@click.option("--save", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write each input with its label and confidence drawn on it to this folder: images as "
                   "images, each video or camera run as an MP4 (needs catdog[camera]). Never replaces a file: "
                   "a taken name gets _2, _3, ...")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the records to this .jsonl or .csv file, each appended and flushed as it is decided "
                   "(with --ray: a folder of JSON Lines files). An existing file is refused unless --resume, "
                   "--append or --force.")
@click.option("--resume", is_flag=True, default=False,
              help="Finish the job --out holds: skip every source it already records (a record a kill cut off "
                   "is cut away and redone), so each source ends with exactly one record.")
@click.option("--retry-errors", is_flag=True, default=False,
              help="With --resume: drop the error records from --out and classify those sources again.")
@click.option("--append", is_flag=True, default=False,
              help="Add records to an existing --out without skipping anything (cameras, streams, services).")
@click.option("--force", is_flag=True, default=False, help="Replace an existing --out.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run as a Ray Data job (needs catdog[ray]): alone, on a local Ray; 'auto' joins the running "
                   "cluster; or HOST:PORT / ray://HOST:PORT. Needs --out FOLDER.")
@click.option("--actors", type=click.IntRange(min=1), default=None,
              help="With --ray: model replicas (Ray actors), each classifying whole batches; default: one per "
                   "CPU of the cluster.")
@click.option("--systemd-unit", "systemd_unit", is_flag=True, default=False,
              help="Print a systemd unit that runs this same command from boot, JSON Lines appended to "
                   "/var/lib/catdog/predictions.jsonl (--out FILE --append), and exit.")
@click.option("--verbose", is_flag=True, default=False, help="Show library logs (TensorFlow, LiteRT, FFmpeg) too.")
def main(sources, model, camera, output_format, top_k, threads, batch_size, max_frames, every, stream_timeout,
         max_pixels, save, out, resume, retry_errors, append, force, ray_address, actors, systemd_unit, verbose):
    """Classify SOURCES (image files, folders, globs, video files, http/rtsp URLs) with the model's labels.

    Prints one line per input (or per frame) with the chosen label, its probability and the
    capture-to-decision milliseconds, then a summary on stderr. A model without catdog
    metadata runs with labels class_0.. and one warning line. Exits 1 if any input failed,
    2 on usage errors.
    """
    if systemd_unit:
        if not sources and camera is None:
            raise click.UsageError("nothing to run as a service: give SOURCES or --camera")
        from catdog.runtime.service import systemd_unit as make_unit

        click.echo(make_unit(click.get_current_context().meta["catdog.raw_args"]), nl=False)
        return
    # catdog-run never calls BLAS: OpenBLAS's thread pool, started by NumPy's import, only costs
    # ~30 ms and ~70 ms of CPU per process (benchmarks/folder_throughput.py). A user's value wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from catdog.quiet import configure_logging

    configure_logging(verbose=verbose)
    from catdog.runtime.runner import RunConfig, run

    if ray_address is not None and not looks_like_address(ray_address):
        sources, ray_address = (ray_address, *sources), "local"  # `--ray photos/`: the folder is a source
    config = RunConfig(sources=tuple(sources), model=model, camera=camera, output_format=output_format,
                       threads=threads, batch_size=batch_size, max_frames=max_frames, every=every,
                       top_k=top_k, stream_timeout=stream_timeout, max_pixels=max_pixels or None, save=save,
                       out=out, resume=resume, retry_errors=retry_errors, append=append, force=force,
                       ray=ray_address, actors=actors, verbose=verbose)
    with exit_on_error(), terminate_cleanly():
        summary = run(config)
    sys.exit(1 if summary.errors else 0)


if __name__ == "__main__":
    main()
