"""The summary `catdog-export` prints when it is done: the source, its contract, a table, next commands."""

from __future__ import annotations

from catdog.export.pipeline import Export


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def describe_host(cpu: dict) -> str:
    """One line naming the CPU class the files were verified on: int8 answers can depend on it."""
    features = ", ".join(cpu["features"]) or "none of avx2, avx512_vnni, asimddp"
    return (f"verified on CPU class: {cpu['class']} ({cpu['model']}; features: {features}); recorded in each file's "
            "metadata as verified_cpu_classes")


def format_summary(export: Export) -> str:
    """The source model and its contract, one Markdown row per file, then the commands to run next."""
    spec, head, origins = export.contract.spec, export.contract.head, export.contract.origins
    low, high = head.source_pixel_range
    lines = [
        f"source: {export.source_name} ({export.source.kind}, "
        f"{f'written by {export.source.written_by}, ' if export.source.written_by else ''}"
        f"loaded with {export.source.loader})",
        f"labels: {', '.join(spec.labels)} (from {origins['labels']})",
        f"input: {spec.image_size[0]}x{spec.image_size[1]} RGB, raw 0..255 pixels; the model expects "
        f"{low:g}..{high:g} (from {origins['pixel_range']}), scaling folded into the exported graph",
        f"output: {spec.num_classes} probabilities in label order; the model gives "
        f"{head.source_output} ({head.units} unit{'s' * (head.units != 1)}, from {origins['output']})",
        f"checked on: {export.checked_on}",
        *export.check_notes,
        *([describe_host(export.cpu)] if export.cpu else []),
        *([f"also verified on (emulated): {', '.join(export.emulated_classes)}"] if export.emulated_classes else []),
        "",
    ]
    if export.tta == "flip":
        lines[-1:-1] = ["test-time augmentation: flip (each image and its mirror image, averaged inside every file; "
                        "twice the compute; the source model is checked the same way)"]
    header = "| format | precision | path | size | label agreement | accuracy | delta vs source | max abs dp | seconds | status |"
    lines += [header, "|" + "---|" * header.count(" | ") + "---|"]
    for result in export.results:
        check = result.verification
        status = "ok" if result.failure is None else "FAILED"
        delta = "-" if check.delta_points is None else f"{check.delta_points:+.2f} pp"
        lines.append(f"| {result.model_format} | {result.precision} | {result.path} | {result.size_bytes / 1024:.1f} KB | "
                     f"{check.agreement:.2%} | {_percent(check.accuracy)} | {delta} | "
                     f"{check.max_difference:.1e} | {result.seconds:.1f} | {status} |")
    written = [result for result in export.results if result.failure is None]
    if export.results and export.results[0].verification.keras_accuracy is not None:
        with_tta = " with the same flip averaging" if export.tta == "flip" else ""
        lines += ["", f"Source model accuracy on the same images{with_tta}: "
                      f"{export.results[0].verification.keras_accuracy:.2%}"]
    if written and len(written) == len(export.results):
        # The int8 TFLite is what an edge device runs; else whichever file came first.
        first = next((result.path for result in written if (result.model_format, result.precision) == ("tflite", "int8")),
                     written[0].path)
        lines += ["", "next:", f"  catdog-run --model {first} IMAGE_OR_FOLDER",
                  f"  catdog-bench {first} --data LABELLED_FOLDER"]
    return "\n".join(lines)
