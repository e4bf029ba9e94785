"""The summary table `catdog-export` prints when it is done (Markdown, so it can be pasted as is)."""

from __future__ import annotations

from catdog.export.pipeline import Result


def format_table(results: list[Result]) -> str:
    """One row per artifact: format, path, size, label agreement, accuracy, delta vs Keras, seconds."""
    header = ("| format | precision | path | size | label agreement | accuracy | delta vs Keras | max abs dp | "
              "seconds | status |")
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for result in results:
        check = result.verification
        status = "ok" if result.failure is None else "FAILED (not written)"
        lines.append(f"| {result.model_format} | {result.precision} | {result.path} | {result.size_bytes / 1024:.1f} KB | "
                     f"{check.agreement:.2%} | {check.accuracy:.2%} | {check.delta_points:+.2f} pp | "
                     f"{check.max_difference:.1e} | {result.seconds:.1f} | {status} |")
    if results:
        lines.append("")
        lines.append(f"Keras accuracy on the same images: {results[0].verification.keras_accuracy:.2%}")
    return "\n".join(lines)
