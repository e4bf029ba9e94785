"""`catdog-export`: a thin click wrapper around `catdog.export.pipeline.export_model`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from catdog.clikit import OneLineCommand

from catdog.export.config import FORMATS, ExportConfig
from catdog.quiet import configure_logging

DEFAULTS = ExportConfig()


@click.command(cls=OneLineCommand, context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--int8", is_flag=True, help="Full-integer int8 (TFLite: uint8 raw-pixel input; ONNX: static QDQ, U8S8 "
                                           "per-channel with reduce_range, so CPUs without VNNI give the same answers).")
@click.option("--fp16", is_flag=True, help="float16 weights (TFLite only).")
@click.option("--dynamic", is_flag=True, help="Dynamic-range int8 weights (TFLite only).")
@click.option("--fp32", is_flag=True, help="float32 (the default when no precision flag is given).")
@click.option("--format", "format", type=click.Choice(FORMATS), default=DEFAULTS.format, help="Which formats to write.")
@click.option("--pixel-range", type=click.Choice(["0,1", "-1,1", "0,255"]), default=None,
              help="Pixel values the model was trained on: 0,1 for pixels/255 (ImageDataGenerator(rescale=1./255)), "
                   "-1,1 for x/127.5-1, 0,255 for raw.  [default: the card, or a leading Rescaling/Normalization layer]")
@click.option("--labels", default=None, help="Comma-separated label names in output order.  "
                                             "[default: the training card, else class_0,class_1,...]")
@click.option("--output", type=click.Choice(["logits", "probabilities"]), default=None,
              help="What the model's output holds.  [default: read from its last layer, else from its values]")
@click.option("--image-size", default=None, metavar="N|HxW", help="N or HxW, only for models whose input size is undefined.")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="Folder of calibration images for int8 (any layout).  [default: the card's training split; "
                   "the shipped model: the samples shipped in the package]")
@click.option("--val", type=click.Path(path_type=Path), default=None,
              help="Validation folder with one subfolder per label, sorted names in label order.  [default: the card's "
                   "validation split or --val folder; the shipped model: the shipped samples; else agreement on --calib "
                   "images]")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULTS.out, help="Output folder.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=DEFAULTS.max_drop,
              help="Largest accuracy drop vs the source model, in percentage points, an int8 or dynamic file may show.")
@click.option("--tta", type=click.Choice(["none", "flip"]), default=DEFAULTS.tta,
              help="Test-time augmentation folded into the exported graph: flip averages each image with its "
                   "mirror image (twice the compute). Files get a _flip suffix.")
@click.option("--custom-objects", type=click.Path(path_type=Path, dir_okay=False), default=None, metavar="FILE.py",
              help="Python file defining the model's custom layers (classes Keras reports it cannot locate), "
                   "imported and given to Keras' custom_object_scope.")
@click.option("--verify-on", default=None, metavar="CLASSES",
              help="Also verify each file on these emulated CPU classes, comma-separated: avx2 (x86 without VNNI, "
                   "qemu-x86_64 -cpu Haswell), cortex-a72 (Raspberry Pi 4), cortex-a76 (Pi 5; both in the clone's "
                   ".ci/arm64-userland.sh, as root); or their class names x86-64 avx2, aarch64, aarch64 asimddp. "
                   "A file that fails on any is not written.  [default: the host only]")
@click.option("--force", is_flag=True, help="Replace files in --out exported from a different source model.")
@click.option("--verbose", is_flag=True, help="Show library logs (TensorFlow, LiteRT, FFmpeg) too.")
def main(verbose: bool, **options) -> None:
    """Export MODEL to verified, self-describing TFLite and ONNX files (default: the shipped model).

    MODEL is a .keras or .h5 file (Keras 3 or tf.keras / tf_keras 2.x) or a SavedModel folder. Every file
    takes raw 0..255 RGB pixels and outputs one probability per label. Each is run in catdog's
    runtime and compared with the source model before any file is written; a summary follows.
    Exit 1 if a file failed verification or a converter failed (then no file is written).
    """
    configure_logging(verbose=verbose)
    from catdog.errors import exit_on_error
    from catdog.export import quiet

    quiet.SHOW_NATIVE_OUTPUT["enabled"] = verbose
    config = ExportConfig(**options)
    with exit_on_error():
        from catdog.export.load_errors import ModelLoadError
        from catdog.export.pipeline import ConversionError, export_model
        from catdog.export.report import format_summary
        from catdog.export.verify import VerificationError

        try:
            export = export_model(config)
        except ModelLoadError as error:
            if verbose:
                click.echo(f"Each library's whole message:\n{error.details}", err=True)
            raise
        except ConversionError as error:
            if verbose:
                import traceback

                traceback.print_exception(error.__cause__ or error, file=sys.stderr)
            raise
        click.echo(format_summary(export))
        failures = [f"{result.model_format} {result.precision} failed the {result.failure}"
                    for result in export.results if result.failure]
        if failures:
            raise VerificationError(" | ".join(failures) + "; no file was written")


if __name__ == "__main__":
    main()
