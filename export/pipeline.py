"""`export_model(config)`: a source model in, verified and self-describing TFLite and ONNX files out.

The steps: load the source (`loaders`), settle the contract (`contract`: labels, size, pixel
range, head), build the probability function (`heads`: raw 0..255 pixels in, K probabilities
out), then per file: convert, embed the metadata, write under a temporary name, open it with
the runtime's own engine and compare it with the source model (`verify`). Files are renamed to
their final names only when every one of them has passed (`outputs`): a failed check or a
converter crash leaves no file behind.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from catdog.errors import CatdogError, shorten_middle
from catdog.folders import ensure_writable
from catdog.export import artifact, calibration, emulated, heads, onnx_export, outputs, tflite, verify
from catdog.export.config import ExportConfig
from catdog.export.contract import (Contract, parse_image_size, settle_contract, settle_image_size,
                                    settle_pixel_range)
from catdog.export.loaders import Source, default_model_path, load_source, source_sha256
from catdog.provenance import describe_path
from catdog.runtime.cpu import describe_cpu
from catdog.runtime.metadata import read_metadata
from catdog.runtime.spec import ModelSpec, default_labels, read_card


class ConversionError(CatdogError):
    """A converter failed: one line naming the step and the converter's message, exit 1."""

    exit_code = 1


@dataclass(frozen=True)
class Result:
    """One exported (or rejected) file."""

    model_format: str
    precision: str
    path: Path
    size_bytes: int
    verification: verify.Verification
    seconds: float

    @property
    def failure(self) -> str | None:
        """None if the file passed every check, else the one-line reason it was rejected."""
        return self.verification.failure


@dataclass(frozen=True)
class Export:
    """What an export did: the source, its contract, where the checks' images came from, the files."""

    source: Source
    source_name: str  # the path as the user gave it, or "shipped:catdog.keras"
    contract: Contract
    checked_on: str
    results: tuple[Result, ...]
    notes: tuple[str, ...]
    tta: str = "none"  # test-time augmentation folded into every file
    check_notes: tuple[str, ...] = ()  # what the check cannot tell, printed under "checked on"
    cpu: dict | None = None  # catdog.runtime.cpu.describe_cpu() of the host the files were verified on
    emulated_classes: tuple[str, ...] = ()  # the --verify-on classes, e.g. ("x86-64 avx2", "aarch64")


def plan_jobs(config: ExportConfig) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The (format, precision) pairs to export, and notes on requested pairs that are skipped."""
    jobs, notes = [], []
    for model_format in config.formats():
        for precision in config.precisions():
            if model_format == "onnx" and precision not in onnx_export.ONNX_PRECISIONS:
                notes.append(f"--{precision} is not supported for onnx (TFLite only); no onnx {precision} file written")
            else:
                jobs.append((model_format, precision))
    if not jobs:
        raise CatdogError(f"nothing to export: {notes[0]}; use --format tflite or all")
    return tuple(jobs), tuple(notes)


def export_model(config: ExportConfig, *, log: Callable[[str], None] | None = None) -> Export:
    """Export, verify and write every requested file; raise CatdogError for usage problems.

    A failed verification does not raise: its Result carries the failure and no file of the
    export is written. A converter crash raises ConversionError (exit 1), also writing nothing.
    """
    log = log or (lambda message: print(message, file=sys.stderr))
    shipped = config.model is None
    model_path = default_model_path() if shipped else Path(config.model)
    jobs, notes = plan_jobs(config)
    emulated_classes = emulated.parse_classes(config.verify_on)
    emulated.check_available(emulated_classes)  # a missing emulator fails before any work
    for note in notes:
        log(f"note: {note}")
    ensure_writable(config.out)
    if not model_path.exists():
        load_source(model_path)  # raises the one-line "model not found" naming what is accepted
    sha256 = source_sha256(model_path)
    stem = outputs.output_stem(model_path) + ("" if config.tta == "none" else f"_{config.tta}")
    targets = {job: outputs.output_path(config.out, stem=stem, model_format=job[0], precision=job[1]) for job in jobs}
    outputs.check_overwrites(list(targets.values()), source_sha256=sha256, force=config.force)
    source = load_source(model_path, custom_objects=config.custom_objects)
    image_size = settle_image_size(source, requested=parse_image_size(config.image_size))

    # How photos become pixels (size, resize method, JPEG draft) before the labels are settled.
    pixels_spec = ModelSpec(image_size=image_size, labels=default_labels(2))
    if (card := calibration.card_spec(model_path)) is not None:
        pixels_spec = pixels_spec.replace(resize=card.resize, jpeg_draft=card.jpeg_draft)
    needs_int8 = any(precision == "int8" for _, precision in jobs)
    # What needs no calibration images is settled first, so a model that cannot be exported
    # is refused before the user is sent to find calibration photos for it.
    settle_pixel_range(source, requested=config.pixel_range)
    calibration_images, calibration_source = load_calibration(config, model_path=model_path, spec=pixels_spec,
                                                              shipped=shipped, required=needs_int8, log=log)
    contract = settle_contract(
        source, image_size=image_size, labels=config.labels, pixel_range=config.pixel_range, output=config.output,
        probe=None if calibration_images is None else (
            lambda pixel_range: source.predict(heads.scale_pixels(calibration_images, pixel_range=pixel_range))),
        log=log)
    spec, head = contract.spec, contract.head
    validation = calibration.load_validation_set(config.val, model_path=model_path, spec=spec, shipped=shipped)
    if validation is not None:
        check_images, check_labels, checked_on = validation.images, validation.labels, validation.source
    elif calibration_images is not None:
        check_images, check_labels = calibration_images, None
        checked_on = f"calibration images ({calibration_source}), no labels: agreement with the source model"
    else:
        check_images, check_labels = calibration.load_calibration_images(None, spec=pixels_spec), None
        checked_on = "the shipped sample photos as unlabelled inputs (numerical agreement only; pass --val DIR)"
    check_notes = calibration_check_notes(calibration_images, calibration_source=calibration_source,
                                          validation=validation, needs_int8=needs_int8, log=log)
    log(f"checking against the source model on {checked_on}")
    if (warning := verify.coarse_check_warning(len(check_images), labelled=check_labels is not None)) is not None:
        log(warning)
    reference = heads.reference_probabilities(
        source.predict(heads.scale_pixels(check_images, pixel_range=head.source_pixel_range)), head=head)
    if config.tta == "flip":
        # The exported graph averages each image with its mirror: so must the reference.
        mirrored = heads.reference_probabilities(source.predict(heads.scale_pixels(
            heads.mirror_images(check_images), pixel_range=head.source_pixel_range)), head=head)
        reference = (reference + mirrored) * np.float32(0.5)
    if check_notes and check_images is calibration_images:  # int8 checked on its own calibration images
        from catdog.runtime.prediction import decide

        if (warning := calibration.label_mix_warning(decide(reference), labels=spec.labels)) is not None:
            log(warning)

    model_name = f"shipped:{model_path.name}" if shipped else describe_path(model_path)
    cpu = describe_cpu()
    options = {**config.to_dict(), "model": model_name,
               "calibration_images": None if calibration_images is None else int(len(calibration_images)),
               "calibration": calibration_source, "validation": checked_on}
    context = {"source": source, "head": head, "spec": spec, "calibration": calibration_images, "onnx_fp32": None,
               "tta": config.tta,
               # The class of the CPU the checks below run on: an int8 file's answers can depend on it. The
               # emulated classes a file is also verified on are appended to the same list.
               "extra": {"verified_cpu_classes": [cpu["class"], *(emulated.class_name(name) for name in emulated_classes)],
                         "test_time_augmentation": config.tta,
                         "source_model": model_name, "source_sha256": sha256, "source_format": source.kind,
                         "source_output": head.source_output, "source_pixel_range": list(head.source_pixel_range),
                         "source_units": head.units, "export_options": options,
                         # The model the source's training started from (catdog-train --init), from its card.
                         "source_init": read_card(model_path).get("init")}}
    partials, results = {}, []
    try:
        for index, job in enumerate(jobs, start=1):
            log(f"[{index}/{len(jobs)}] {job[0]} {job[1]}: converting and verifying")
            start = time.perf_counter()
            model_bytes, metadata = build_file(*job, context=context)
            partials[targets[job]] = artifact.write_partial(targets[job], model_bytes)
            try:
                check = verify_file(partials[targets[job]], metadata=metadata, images=check_images,
                                    labels=check_labels, reference=reference, max_drop=config.max_drop)
                for name in emulated_classes if check.failure is None else ():
                    log(f"[{index}/{len(jobs)}] {job[0]} {job[1]}: verifying as {name} ({emulated.class_name(name)}, emulated)")
                    check = verify_emulated(partials[targets[job]], name=name, check=check, metadata=metadata,
                                            images=check_images, labels=check_labels, reference=reference,
                                            max_drop=config.max_drop)
            except CatdogError:
                raise
            except Exception as error:  # noqa: BLE001 - a file the runtime cannot run is one line, not a traceback
                raise ConversionError(f"{job[0]} {job[1]} check failed: the runtime could not run the converted file: "
                                      f"{type(error).__name__}: {shorten_middle(str(error), limit=300)}") from error
            results.append(Result(*job, targets[job], len(model_bytes), check, time.perf_counter() - start))
        if all(result.failure is None for result in results):
            outputs.commit(partials)
    finally:
        outputs.discard_all(partials)
    return Export(source, model_name, contract, checked_on, tuple(results), notes, config.tta, check_notes, cpu,
                  tuple(emulated.class_name(name) for name in emulated_classes))


def calibration_check_notes(calibration_images: np.ndarray | None, *, calibration_source: str | None,
                            validation: calibration.ValidationSet | None, needs_int8: bool,
                            log: Callable[[str], None]) -> tuple[str, ...]:
    """Log warnings about int8 calibration images that cannot stand for real photos; return the summary's notes.

    Only int8 is calibrated. Without labelled validation images its files are checked on their own
    calibration images, which a wrong calibration set also passes: the summary says so.
    """
    if not needs_int8 or calibration_images is None:
        return ()
    for warning in calibration.calibration_warnings(
            calibration_images, validation_images=None if validation is None else validation.images):
        log(warning)
    return () if validation is not None else (calibration.same_images_note(calibration_source),)


def load_calibration(config: ExportConfig, *, model_path: Path, spec: ModelSpec, shipped: bool, required: bool,
                     log: Callable[[str], None]) -> tuple[np.ndarray | None, str | None]:
    """Calibration images and where they came from: --calib, (shipped model) the samples, or the card's training split.

    Their count is checked here, before any conversion: none at all for int8 (`required`) is a
    CatdogError; fewer than MINIMUM_CALIBRATION_IMAGES is one warning line through `log`, since
    verification still compares the int8 files with the source model.
    """
    images, source = _find_calibration(config, model_path=model_path, spec=spec, shipped=shipped)
    if images is None and required:
        raise CatdogError(f"int8 needs calibration images like the ones {model_path.name} will see: pass --calib DIR "
                          f"(at least {calibration.MINIMUM_CALIBRATION_IMAGES} images, any folder layout)")
    if required and (warning := calibration.calibration_count_warning(len(images))) is not None:
        log(warning)
    return images, source


def _find_calibration(config: ExportConfig, *, model_path: Path, spec: ModelSpec,
                      shipped: bool) -> tuple[np.ndarray | None, str | None]:
    if config.calib is not None:
        images = calibration.load_calibration_images(config.calib, spec=spec)
        return images, f"{describe_path(config.calib)}, {len(images)} images"
    if shipped:
        # The samples were drawn from the shipped model's own training split; using them whether or
        # not the dataset is on this machine keeps the shipped int8 files reproducible.
        images = calibration.load_calibration_images(None, spec=spec)
        return images, f"shipped calibration samples, {len(images)} images"
    found = calibration.card_calibration_paths(model_path)
    if found is not None and found[0]:
        return calibration.load_calibration_images(None, spec=spec, paths=found[0]), found[1]
    return None, None


def build_file(model_format: str, precision: str, *, context: dict) -> tuple[bytes, dict]:
    """Convert to one format and precision and embed the metadata; a converter crash raises ConversionError."""
    source, head, spec = context["source"], context["head"], context["spec"]
    input_shape = spec.input_shape
    step = f"{model_format} {precision} conversion"
    try:
        if model_format == "tflite":
            function = heads.probability_function(source.call, input_shape=input_shape, head=head,
                                                  int8_output=precision == "int8", tta=context["tta"])
            raw = tflite.convert_to_tflite(function, precision=precision, calibration_images=context["calibration"])
            tensors = tflite.describe_tflite_tensors(raw)
        else:
            if context["onnx_fp32"] is None:
                step = "onnx conversion (tf2onnx)"
                function = heads.probability_function(source.call, input_shape=input_shape, head=head,
                                                      tta=context["tta"])
                context["onnx_fp32"] = onnx_export.convert_to_onnx(function)
            proto = copy.deepcopy(context["onnx_fp32"])
            if precision == "int8":
                step = "onnx int8 quantization (onnxruntime)"
                proto = onnx_export.quantize_onnx_int8(proto, calibration_images=context["calibration"])
            tensors = onnx_export.describe_onnx_tensors(proto.SerializeToString())
    except CatdogError:
        raise
    except Exception as error:  # noqa: BLE001 - a converter crash is reported in one line
        message = str(error).strip() or type(error).__name__
        raise ConversionError(f"{step} failed: {type(error).__name__}: {shorten_middle(message, limit=300)}") from error
    extra = context["extra"]
    if (model_format, precision) == ("onnx", "int8"):
        extra = {**extra, "quantization": onnx_export.INT8_RECIPE.to_dict()}
    metadata = artifact.build_metadata(model_format=model_format, precision=precision, tensors=tensors, spec=spec,
                                       extra=extra)
    if model_format == "tflite":
        return artifact.embed_tflite_metadata(raw, metadata, spec=spec), metadata
    return artifact.embed_onnx_metadata(proto, metadata), metadata


def verify_emulated(path: Path, *, name: str, check: verify.Verification, metadata: dict, images: np.ndarray,
                    labels: np.ndarray | None, reference: np.ndarray, max_drop: float) -> verify.Verification:
    """The host's check, kept when the file passes the same gate as emulated class NAME; else that failure."""
    probabilities = emulated.file_probabilities(path, images, name=name)
    result = verify.compare(probabilities, reference=reference, labels=labels, precision=metadata["precision"],
                            max_drop=max_drop)
    if result.failure is None:
        return check
    return verify.Verification(result.agreement, result.max_difference, result.mean_difference, result.accuracy,
                               result.keras_accuracy, f"{result.failure} on {emulated.class_name(name)} (emulated {name})")


def verify_file(path: Path, *, metadata: dict, images: np.ndarray, labels: np.ndarray | None, reference: np.ndarray,
                max_drop: float) -> verify.Verification:
    """Run the written file in the runtime's engine, compare it with the source, check its metadata reads back."""
    structural = None
    if metadata["format"] == "tflite" and metadata["precision"] == "int8":
        structural = verify.check_int8_tflite(path)
    probabilities = verify.file_probabilities(path, images)
    result = verify.compare(probabilities, reference=reference, labels=labels, precision=metadata["precision"],
                            max_drop=max_drop)
    if read_metadata(path) != metadata:
        structural = structural or "metadata check: the embedded metadata does not read back unchanged"
    if structural and result.failure is None:
        return verify.Verification(result.agreement, result.max_difference, result.mean_difference, result.accuracy,
                                   result.keras_accuracy, structural)
    return result
