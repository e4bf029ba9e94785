"""The README is the user's guide: short, its commands the ones CI runs, its links alive.

Issue 30: the README stays at most 300 lines, leads with the light install (`pip install .`, then
`catdog-run samples/`, before any `[train]` install), keeps its test command byte-identical to the
line `.ci/run` runs, links the research pages it moved to docs/, and says in its Layout section what
lives where. Every relative Markdown link in README.md and docs/*.md must resolve to a file, so a
moved page never leaves a dead link. No TensorFlow, no network, milliseconds.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
CI_MARKER = "# The line below is the README's \"Run the tests\" command"
MOVED_PAGES = ("docs/quality.md", "docs/contract.md", "docs/bad-input.md")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def without_code_blocks(text: str) -> str:
    """The Markdown outside fenced code blocks (links inside them are not links)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def relative_links(path: Path) -> list[str]:
    """Every link target in PATH that is a file in this repository (no URL, no bare #anchor)."""
    targets = []
    for match in LINK.finditer(without_code_blocks(path.read_text(encoding="utf-8"))):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target)
    return targets


def test_readme_is_at_most_300_lines():
    lines = readme_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move detail to docs/"


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file(page):
    dead = []
    for target in relative_links(page):
        file_part = unquote(target.split("#", 1)[0])
        if not (page.parent / file_part).exists():
            dead.append(target)
    assert not dead, f"{page.relative_to(ROOT)} links to missing files: {dead}"


def test_link_check_sees_links_and_skips_urls_and_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](docs/a.md#x) [b](https://example.com) [c](#top) ![img](p.png)\n"
                    "```\n[not](inside.md)\n```\n", encoding="utf-8")
    assert relative_links(page) == ["docs/a.md#x", "p.png"]


def test_readme_test_command_is_the_line_ci_runs():
    ci_lines = CI.read_text(encoding="utf-8").splitlines()
    marker = next(index for index, line in enumerate(ci_lines) if line.startswith(CI_MARKER))
    ci_command = ci_lines[marker + 1].split(" || ")[0].strip()
    assert ci_command.startswith("python3 -m venv .venv"), ci_command
    assert ci_command in readme_text().splitlines(), f"the README lacks .ci/run's test command: {ci_command}"


def test_readme_names_the_light_install_first():
    text = readme_text()
    light = text.find("pip install . && catdog-run samples/")
    assert light != -1, "the README's first command is the light install: pip install . && catdog-run samples/"
    first_train = text.find("[train]")
    assert first_train == -1 or light < first_train, "a [train] install appears before the light install"
    assert light < text.find("pytest -q"), "the main job comes before the test command"


@pytest.mark.parametrize("page", MOVED_PAGES)
def test_research_pages_exist_and_the_readme_links_them(page):
    assert (ROOT / page).is_file(), f"{page} is missing"
    assert page in relative_links(README), f"the README does not link {page}"


def test_readme_layout_section_names_measure_and_benchmarks():
    text = readme_text()
    match = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, "the README has no '## Layout' section"
    layout = match.group(1)
    for folder in ("measure/", "benchmarks/", "runtime/", "train/", "export/", "tests/", "docs/"):
        assert folder in layout, f"the Layout section does not name {folder}"
    assert "catdog-bench" in layout, "the Layout section should say measure/ is catdog-bench's package"


def test_readme_python_example_is_introduced_as_in_python():
    lines = readme_text().splitlines()
    index = lines.index("In Python:")
    following = next(line for line in lines[index + 1:] if line.strip())
    assert following == "```python"
    block = "\n".join(lines[index + 2:lines.index("```", index + 2)])
    assert "from catdog.runtime import Classifier" in block
    assert 'predict("samples/cat_or_dog_1.jpg")' in block
