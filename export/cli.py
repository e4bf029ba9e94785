"""`catdog-export`: a thin click wrapper around `catdog.export.pipeline.export_model`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from catdog.errors import exit_on_error
from catdog.export.config import FORMATS, ExportConfig

DEFAULTS = ExportConfig()


@click.command(context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--int8", is_flag=True, help="Full-integer int8 (TFLite: uint8 raw-pixel input; ONNX: static QDQ).")
@click.option("--fp16", is_flag=True, help="float16 weights (TFLite only).")
@click.option("--dynamic", is_flag=True, help="Dynamic-range int8 weights (TFLite only).")
@click.option("--fp32", is_flag=True, help="float32 (the default when no precision flag is given).")
@click.option("--format", "format", type=click.Choice(FORMATS), default=DEFAULTS.format, help="Which formats to write.")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help="Folder of calibration photos for int8  [default: the training-split samples shipped in the package]")
@click.option("--val", type=click.Path(path_type=Path), default=None,
              help="Validation folder with class subfolders (cats/, dogs/)  [default: the model card's validation "
                   "split if its data folder exists, else the shipped samples]")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULTS.out, help="Output folder.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=DEFAULTS.max_drop,
              help="Largest accuracy drop vs Keras, in percentage points, an int8 or dynamic model may show.")
def main(**options) -> None:
    """Export MODEL.keras (default: the shipped model) to verified, self-describing TFLite and ONNX files.

    Every file is run in its own runtime on validation images and only written if it agrees
    with Keras; a summary table is printed at the end. Exit 1 if any file failed verification.
    """
    config = ExportConfig(**options)
    # TensorFlow's C++ logging is noise here; the user can still turn it back on.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with exit_on_error():
        from catdog.export.pipeline import export_model
        from catdog.export.report import format_table
        from catdog.export.verify import VerificationError

        results = export_model(config)
        click.echo(format_table(results))
        failures = [f"{result.model_format} {result.precision} failed the {result.failure}; {result.path} not written"
                    for result in results if result.failure]
        if failures:
            raise VerificationError(" | ".join(failures))


if __name__ == "__main__":
    main()
