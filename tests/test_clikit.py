"""Every catdog command reports usage errors in one line with exit code 2 (catdog.clikit.OneLineCommand)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from catdog.measure.cli import main as bench_main
from catdog.export.cli import main as export_main
from catdog.runtime.cli import main as run_main
from catdog.train.cli import main as train_main

COMMANDS = {"catdog-train": train_main, "catdog-export": export_main, "catdog-run": run_main,
            "catdog-bench": bench_main}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unknown_option_is_one_line_and_exit_2(name):
    result = CliRunner().invoke(COMMANDS[name], ["--no-such-option"], prog_name=name)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: No such option '--no-such-option'") and f"{name} --help" in lines[0]


def test_a_missing_required_option_is_one_line():
    result = CliRunner().invoke(train_main, [], prog_name="catdog-train")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: Missing option '--data'. (see catdog-train --help)"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_still_exits_0(name):
    result = CliRunner().invoke(COMMANDS[name], ["--help"], prog_name=name)
    assert result.exit_code == 0 and result.output.startswith(f"Usage: {name}")
