"""Write one benchmark's results: `<out>.json` (the raw report) and `<out>.md` (its human page).

Every script in benchmarks/ ends the same way, so the files always come in pairs, the JSON
pretty-printed with a final newline. Scripts import it as a sibling (`python benchmarks/x.py`
puts benchmarks/ on sys.path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def write_results(report: dict[str, Any], out: Path, *, write_markdown: Callable[[dict[str, Any], Path], None]) -> Path:
    """Write `out.json` and, through `write_markdown(report, path)`, `out.md`; return the Markdown path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, out.with_suffix(".md"))
    return out.with_suffix(".md")
