"""`export_model(config)`: Keras in, verified and self-describing TFLite and ONNX files out.

Each artifact is converted, given its metadata, written under a temporary name, run in its
own runtime on the validation images, read back with the runtime's metadata reader, and only
then renamed to its final path. A failed artifact leaves no file at its final path.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from catdog.errors import CatdogError
from catdog.export import artifact, onnx_export, tflite, verify
from catdog.export.calibration import load_calibration_images, load_validation_set, model_spec_from_card
from catdog.export.config import ExportConfig
from catdog.export.source import default_model_path, load_keras_model
from catdog.runtime.metadata import read_metadata


@dataclass(frozen=True)
class Result:
    """One exported (or rejected) artifact."""

    model_format: str
    precision: str
    path: Path
    size_bytes: int
    verification: verify.Verification
    seconds: float

    @property
    def failure(self) -> str | None:
        """None if the artifact passed every check, else the one-line reason it was rejected."""
        return self.verification.failure


@dataclass(frozen=True)
class Plan:
    """The (format, precision) pairs to export and notes on requested pairs that are skipped."""

    jobs: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


def plan_jobs(config: ExportConfig) -> Plan:
    """Cross formats with precisions; ONNX does fp32 and int8 only (see `onnx_export`)."""
    jobs, notes = [], []
    for model_format in config.formats():
        for precision in config.precisions():
            if model_format == "onnx" and precision not in onnx_export.ONNX_PRECISIONS:
                notes.append(f"--{precision} is not supported for onnx (TFLite only); no onnx {precision} file written")
            else:
                jobs.append((model_format, precision))
    if not jobs:
        raise CatdogError(f"nothing to export: {notes[0]}; use --format tflite or all")
    return Plan(tuple(jobs), tuple(notes))


def output_path(out_dir: Path, model_format: str, precision: str) -> Path:
    """`catdog_<precision>.<format>` inside the output folder."""
    return Path(out_dir) / f"catdog_{precision}.{model_format}"


def ensure_writable(out_dir: Path) -> None:
    """Create the output folder and prove a file can be written there, or raise one line."""
    try:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".catdog-write-test-"):
            pass
    except OSError as error:
        raise CatdogError(f"output folder {out_dir} cannot be written ({error.strerror or error}): "
                          "pass --out with a writable folder") from None


def export_model(config: ExportConfig, *, log: Callable[[str], None] | None = None) -> list[Result]:
    """Export, verify and write every requested artifact; return one Result per artifact.

    Usage problems raise CatdogError before anything is converted. A failed verification
    does not raise: its Result carries the failure and no file is left at its path.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    model_path = Path(config.model) if config.model is not None else default_model_path()
    plan = plan_jobs(config)
    for note in plan.notes:
        log(f"note: {note}")
    ensure_writable(config.out)
    model = load_keras_model(model_path)
    from catdog.runtime.spec import infer_spec

    spec = model_spec_from_card(model_path) or infer_spec(
        input_shape=model.input_shape, output_shape=model.output_shape, name=model_path.name)
    needs_calibration = any(precision == "int8" for _, precision in plan.jobs)
    calibration = load_calibration_images(config.calib, spec=spec) if needs_calibration else None
    validation = load_validation_set(config.val, model_path=model_path, spec=spec)
    log(f"validating on {validation.source}")
    keras_probabilities = np.asarray(
        model.predict(validation.images.astype(np.float32), batch_size=256, verbose=0), dtype=np.float32).reshape(-1)
    # The shipped default is named by file only: an absolute path would leak the exporting machine's
    # folders into every file and say nothing to the user who reads it back.
    model_name = str(model_path) if config.model is not None else f"shipped:{model_path.name}"
    options = {**config.to_dict(), "model": model_name,
               "calibration_images": None if calibration is None else int(len(calibration)),
               "validation": validation.source}
    context = {"model": model, "source_sha256": artifact.file_sha256(model_path), "options": options,
               "spec": spec, "calibration": calibration, "onnx_fp32": None}
    results = []
    for index, (model_format, precision) in enumerate(plan.jobs, start=1):
        log(f"[{index}/{len(plan.jobs)}] {model_format} {precision}: converting and verifying")
        start = time.perf_counter()
        target = output_path(config.out, model_format, precision)
        model_bytes, metadata = build_artifact(model_format, precision, context=context)
        results.append(write_verified(target, model_bytes, metadata=metadata, validation=validation,
                                      keras_probabilities=keras_probabilities, max_drop=config.max_drop, start=start))
    return results


def build_artifact(model_format: str, precision: str, *, context: dict) -> tuple[bytes, dict]:
    """Convert the Keras model to one format and precision, with its metadata embedded."""
    if model_format == "tflite":
        raw = tflite.convert_to_tflite(context["model"], precision=precision, calibration_images=context["calibration"])
        tensors = tflite.describe_tflite_tensors(raw)
    else:
        if context["onnx_fp32"] is None:
            context["onnx_fp32"] = onnx_export.convert_to_onnx(context["model"])
        proto = copy.deepcopy(context["onnx_fp32"])
        if precision == "int8":
            proto = onnx_export.quantize_onnx_int8(proto, calibration_images=context["calibration"])
        tensors = onnx_export.describe_onnx_tensors(proto.SerializeToString())
    metadata = artifact.build_metadata(model_format=model_format, precision=precision, tensors=tensors,
                                       spec=context["spec"], source_sha256=context["source_sha256"],
                                       export_options=context["options"])
    if model_format == "tflite":
        return artifact.embed_tflite_metadata(raw, metadata), metadata
    return artifact.embed_onnx_metadata(proto, metadata), metadata


def write_verified(target: Path, model_bytes: bytes, *, metadata: dict, validation, keras_probabilities: np.ndarray,
                   max_drop: float, start: float) -> Result:
    """Write under a temporary name, verify the file itself, then rename it, or remove it on failure."""
    temporary = artifact.write_partial(target, model_bytes)
    try:
        verification = verify_file(temporary, metadata=metadata, validation=validation,
                                   keras_probabilities=keras_probabilities, max_drop=max_drop)
        if verification.failure is None:
            os.replace(temporary, target)
        else:
            # A stale file from an earlier export must not pass for the output of this one.
            artifact.discard(target)
    finally:
        artifact.discard(temporary)
    return Result(metadata["format"], metadata["precision"], target, len(model_bytes), verification,
                  time.perf_counter() - start)


def verify_file(path: Path, *, metadata: dict, validation, keras_probabilities: np.ndarray,
                max_drop: float) -> verify.Verification:
    """Run the written file in its own runtime and compare it with Keras; check its metadata reads back."""
    model_bytes = path.read_bytes()
    structural = None
    if metadata["format"] == "tflite":
        interpreter = tflite.make_tflite_interpreter(model_bytes)
        if metadata["precision"] == "int8":
            structural = verify.check_int8_tflite(interpreter)
        probabilities = verify.predict_tflite(interpreter, validation.images)
    else:
        probabilities = verify.predict_onnx(onnx_export.make_onnx_session(model_bytes), validation.images)
    result = verify.compare(probabilities, keras_probabilities=keras_probabilities, labels=validation.labels,
                            precision=metadata["precision"], max_drop=max_drop)
    if read_metadata(path) != metadata:
        structural = structural or "metadata check: the embedded metadata does not read back unchanged"
    if structural and result.failure is None:
        return verify.Verification(result.agreement, result.max_difference, result.accuracy,
                                   result.keras_accuracy, structural)
    return result
