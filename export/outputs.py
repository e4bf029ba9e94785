"""Where exported files go: their names, the overwrite rule, and the all-or-nothing commit.

* Names come from the source model: `<stem>_<precision>.<ext>`, where the stem is the file's
  stem, a SavedModel folder's name, or, for a `model.keras` inside a catdog run folder (one
  holding `card.json`), the run folder's name.
* An existing file is replaced only when it was exported from the same source model (same
  SHA-256 in its metadata); replacing anything else needs `--force`. This is checked before
  anything is converted.
* Every file is written under a temporary name (`.<name>.partial.<ext>`, which keeps its suffix
  so the runtime's engines open it) and renamed only when every file of the export has passed;
  otherwise all temporary files are removed and no final path is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

from catdog.errors import CatdogError
from catdog.export import artifact


def output_stem(model_path: Path) -> str:
    """The stem exported files are named after (see the module docstring)."""
    model_path = Path(model_path)
    if model_path.is_dir():
        return model_path.resolve().name
    if model_path.name == "model.keras" and (model_path.parent / "card.json").is_file():
        return model_path.resolve().parent.name
    return model_path.stem


def output_path(out_dir: Path, *, stem: str, model_format: str, precision: str) -> Path:
    """`<stem>_<precision>.<format>` inside the output folder."""
    return Path(out_dir) / f"{stem}_{precision}.{model_format}"


def check_overwrites(targets: list[Path], *, source_sha256: str, force: bool) -> None:
    """Raise CatdogError (exit 2) if an existing target came from a different source model and not `force`."""
    if force:
        return
    from catdog.runtime.metadata import read_metadata

    for target in targets:
        if not target.exists():
            continue
        try:
            existing = read_metadata(target).get("source_sha256")
        except Exception:  # noqa: BLE001 - an unreadable or foreign file is not ours to replace
            existing = None
        if existing != source_sha256:
            what = "a different source model" if existing else "an unknown source (no catdog metadata)"
            raise CatdogError(f"{target} exists and was exported from {what}: pass --force to replace it, "
                              "or --out with another folder")


def commit(partials: dict[Path, Path]) -> None:
    """Rename every temporary file to its target (all have passed)."""
    for target, temporary in partials.items():
        os.replace(temporary, target)


def discard_all(partials: dict[Path, Path]) -> None:
    """Remove every temporary file; final paths are left as they were."""
    for temporary in partials.values():
        artifact.discard(temporary)
