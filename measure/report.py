"""Render a BenchResult: an aligned text table, JSON rows, a Markdown page and a latency-vs-accuracy plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from catdog.measure.config import BenchConfig
from catdog.measure.progress import Progress
from catdog.measure.per_class import format_per_class
from catdog.measure.runner import BenchResult
from catdog.errors import CatdogError, MissingExtraError

COLUMNS = ("model", "format", "precision", "size", "load ms", "first ms", "mean ms", "p50 ms", "floor ms", "p90 ms",
           "p99 ms", "img/s", "img/s @folder", "peak RSS", "vs predict", "vs compiled", "accuracy", "agreement")
RIGHT_ALIGNED_FROM = 3  # text columns first, numbers after


def format_milliseconds(value: Optional[float]) -> str:
    """Three significant figures or so, whatever the magnitude; '-' when missing."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    return f"{value:.0f}"


def format_bytes(value: Optional[int]) -> str:
    """Kilobytes below a megabyte, megabytes above."""
    if value is None:
        return "-"
    return f"{value / 1024:.0f} KB" if value < 1024 * 1024 else f"{value / 1024 / 1024:.1f} MB"


def format_ratio(value: Optional[float]) -> str:
    """A speed-up such as '512x' or '1.8x'."""
    if value is None:
        return "-"
    if value >= 10:
        return f"{value:.0f}x"
    return f"{value:.1f}x" if value >= 1 else f"{value:.3f}x"


def format_fraction(value: Optional[float]) -> str:
    """A percentage with one decimal."""
    return "-" if value is None else f"{value * 100:.1f}%"


def format_count(value: Optional[float]) -> str:
    """A rate such as images per second, rounded to a whole number; '-' when missing."""
    return "-" if value is None else f"{value:.0f}"


def format_row(row: dict[str, Any]) -> list[str]:
    """Turn one row into the strings of COLUMNS."""
    latency = row.get("latency_ms") or {}
    speedup = row.get("speedup_vs_keras") or {}
    return [row["model"], row["format"], row["precision"], format_bytes(row.get("size_bytes")),
            format_milliseconds(row.get("load_ms")), format_milliseconds(row.get("first_inference_ms")),
            *(format_milliseconds(latency.get(key)) for key in ("mean", "p50")),
            format_milliseconds(row.get("engine_floor_ms")),
            *(format_milliseconds(latency.get(key)) for key in ("p90", "p99")),
            format_count(row.get("throughput_ips")), format_count(row.get("folder_throughput_ips")),
            format_bytes(row.get("peak_rss_bytes")),
            format_ratio(speedup.get("predict")), format_ratio(speedup.get("compiled")),
            format_fraction(row.get("accuracy")), format_fraction(row.get("agreement"))]


def list_engine_versions(result: BenchResult) -> str:
    """List each engine once with its version, e.g. 'ai-edge-litert 2.3.0, onnxruntime 1.32.0'."""
    seen: dict[str, str] = {}
    for row in result.rows:
        engine = row.get("engine") or {}
        if row["format"] == "keras":
            seen["tensorflow"] = f"tensorflow {engine.get('tensorflow')} (keras {engine.get('keras')})"
        else:
            seen[engine.get("engine", "?")] = f"{engine.get('engine', '?')} {engine.get('version', '?')}"
    return ", ".join(seen.values())


def format_cpu_class(machine: dict[str, Any]) -> str:
    """The header line naming the CPU class and ISA features, so tables from two machines are never compared blind."""
    features = machine.get("cpu_features")
    listed = "unknown" if features is None else (", ".join(features) or "none of avx2, avx512_vnni, asimddp")
    return (f"CPU class: {machine.get('cpu_class') or 'unknown'} (model {machine.get('cpu') or 'unknown'}; ISA features: "
            f"{listed}); int8 kernels, and so int8 speed and answers, depend on it")


def build_header_lines(result: BenchResult) -> list[str]:
    """The lines above the table: machine, engines, how it was measured, and any notes."""
    machine = result.machine
    rows = [row for row in result.rows if row.get("runs")]
    counts = sorted({row["runs"] for row in rows}) or [0]
    runs = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    batch = next((row.get("batch") for row in result.rows if row.get("batch")), None)
    images = next((row.get("images") for row in result.rows if row.get("images")), None)
    folder_batch = next((row.get("folder_batch") for row in result.rows if row.get("folder_batch")), "-")
    lines = [f"CPU: {machine['cpu']} ({machine['cores']} cores, load average {machine.get('load_average')} "
             f"at start); {machine['threads']} inference thread(s); Python {machine['python']}, NumPy {machine['numpy']}, catdog {machine['catdog']}",
             format_cpu_class(machine),
             f"Engines: {list_engine_versions(result)}",
             f"Latency: ms per call at batch 1, {runs} runs per model, models interleaved in round-robin chunks; "
             f"img/s at batch {batch}; speed-ups are Keras p50 / model p50",
             f"floor ms: litert-benchmark's median on the same file and threads (TFLite only); "
             f"img/s @folder: exported models at batch {folder_batch}, the batch catdog-run uses for folders",
             f"Peak RSS: VmHWM of a fresh child process per model (import, load, run); "
             f"a bare child (Python, NumPy, Pillow, catdog) peaks at {format_bytes(machine.get('bare_child_rss_bytes'))}"]
    if images:
        lines.append(f"Accuracy on {images} labelled images; agreement = same label as Keras")
    return lines + list(result.notes)


def build_footer_lines(result: BenchResult) -> list[str]:
    """The lines under the table: how to fill the accuracy and agreement columns when they are empty."""
    if result.rows and all(row.get("accuracy") is None for row in result.rows):
        return ["accuracy and agreement: add --data DIR (one subfolder of images per label) to fill them"]
    if result.rows and all(row.get("agreement") is None for row in result.rows):
        return ["agreement: needs the Keras baseline (see the notes above)"]
    return []


def format_table(result: BenchResult) -> str:
    """Return the header lines, an aligned text table, and the footer lines."""
    grid = [list(COLUMNS)] + [format_row(row) for row in result.rows]
    widths = [max(len(line[index]) for line in grid) for index in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(width) if index >= RIGHT_ALIGNED_FROM else cell.ljust(width)
                       for index, (cell, width) in enumerate(zip(line, widths))).rstrip() for line in grid]
    lines.insert(1, "  ".join("-" * width for width in widths))
    footer = build_footer_lines(result)
    return "\n".join(build_header_lines(result) + [""] + lines + ([""] + footer if footer else [])
                     + per_class_section(result))


def per_class_section(result: BenchResult) -> list[str]:
    """Per model with --data, the per-class precision and recall table training prints too."""
    lines = []
    for row in result.rows:
        if row.get("per_class"):
            lines += ["", f"per class, {row['model']} ({row['format']} {row['precision']}):"]
            lines += ["  " + line for line in format_per_class(row["per_class"])]
    return lines


def build_json_rows(result: BenchResult) -> list[dict[str, Any]]:
    """Return the JSON document: a list of rows, each carrying the machine it ran on."""
    return [{**row, "machine": result.machine, "notes": list(result.notes)} for row in result.rows]


def write_json(result: BenchResult, path: Path) -> None:
    """Write the rows as indented JSON."""
    Path(path).write_text(json.dumps(build_json_rows(result), indent=2) + "\n")


def render_markdown(result: BenchResult) -> str:
    """Return a Markdown page: the header lines as a list, then a pipe table."""
    lines = ["# catdog-bench results", ""] + [f"- {line}" for line in build_header_lines(result)] + [""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|" + "|".join("---" if index < RIGHT_ALIGNED_FROM else "---:" for index in range(len(COLUMNS))) + "|")
    lines += ["| " + " | ".join(format_row(row)) + " |" for row in result.rows]
    footer = build_footer_lines(result)
    per_class = per_class_section(result)
    return "\n".join(lines + ([""] + footer if footer else []) + (["", "```", *per_class[1:], "```"] if per_class else [])) + "\n"


def write_markdown(result: BenchResult, path: Path) -> None:
    """Write the Markdown page."""
    Path(path).write_text(render_markdown(result))


def import_pyplot() -> Any:
    """Import matplotlib's pyplot on a file-only backend, or raise one line naming the install."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install 'catdog[train]' (or pip install matplotlib)") from None
    return pyplot


# Marker shapes cycled with matplotlib's colours, so points that sit close together stay distinguishable.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def point_label(row: dict[str, Any]) -> str:
    """A plotted point's legend entry: model and precision, e.g. 'catdog_int8.tflite (int8)'."""
    return f"{row['model']} ({row['precision']})"


def write_plot(result: BenchResult, path: Path) -> None:
    """Plot p50 latency (log scale) against accuracy, one marker per model, named in a legend beside the
    chart with its p50 and accuracy (text next to the points overprints when rungs sit close together)."""
    pyplot = import_pyplot()
    figure, axes = pyplot.subplots(figsize=(9, 4.5))
    plotted = [row for row in result.rows if row.get("latency_ms") is not None and row.get("accuracy") is not None]
    for index, row in enumerate(sorted(plotted, key=lambda item: item["latency_ms"]["p50"])):
        x, y = row["latency_ms"]["p50"], row["accuracy"] * 100
        axes.scatter(x, y, s=50, marker=MARKERS[index % len(MARKERS)],
                     label=f"{point_label(row)}: {x:.3g} ms, {y:.2f}%")
    axes.set_xscale("log")
    axes.margins(x=0.2, y=0.2)
    axes.set_xlabel(f"p50 latency at batch 1, ms (log scale, {result.machine['threads']} thread(s))")
    axes.set_ylabel("accuracy, %")
    axes.set_title(f"catdog: latency vs accuracy on {result.machine['cpu']}", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    if plotted:
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)


def run_and_report(config: BenchConfig, *, progress: Optional[Progress] = None) -> str:
    """Run the benchmark, write --json, --markdown and --plot, and return the text table.

    Matplotlib and --data are checked before the timing starts, so a missing extra costs a
    second rather than the whole run.
    """
    from catdog.measure.runner import run_benchmark

    if config.plot is not None:
        if config.data is None:
            raise CatdogError("--plot draws latency against accuracy: add --data DIR (class subfolders)")
        import_pyplot()
    result = run_benchmark(config, progress=progress)
    if config.json is not None:
        write_json(result, config.json)
    if config.markdown is not None:
        write_markdown(result, config.markdown)
    if config.plot is not None:
        write_plot(result, config.plot)
    return format_table(result)
