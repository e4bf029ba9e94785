"""A systemd unit that runs `catdog-run` unattended from boot: `catdog-run ... --systemd-unit`.

The unit runs the very command it was printed from (without `--systemd-unit`), from the same
working directory and venv, as the same user, with the camera's `video` group. Records go as
JSON Lines to `--out FILE --append`: by default /var/lib/catdog/predictions.jsonl, the unit's
StateDirectory, so they survive restarts and reboots, and every record is flushed as it is
written. SIGTERM (`systemctl stop`) ends catdog-run like Ctrl-C: the record being written is
finished, the camera closed, the summary goes to the journal, and the exit code is 143, which
the unit counts as a clean stop. A run that fails (a camera not ready at boot) is restarted.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from catdog.runtime.urls import is_stream_url

STATE_DIRECTORY = "catdog"  # /var/lib/catdog, made and owned for User= by systemd
DEFAULT_OUT = f"/var/lib/{STATE_DIRECTORY}/predictions.jsonl"
UNIT_NAME = "catdog.service"
# 128 + SIGTERM: how catdog-run reports a stop by SIGTERM (catdog.errors.exit_on_error).
TERMINATED_EXIT_CODE = 143
# Characters a systemd command-line word may hold unquoted (systemd.syntax(7)).
SAFE_WORD = re.compile(r"[A-Za-z0-9_@%$+=:,./-]+")


def quote_word(word: str) -> str:
    """Quote one ExecStart word for systemd: `%` specifiers and `$` variables are escaped, too."""
    word = word.replace("%", "%%").replace("$", "$$")
    if SAFE_WORD.fullmatch(word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def has_option(args: Sequence[str], name: str) -> bool:
    """True if `name` (e.g. --out) is among the arguments, as `--out X` or `--out=X`."""
    return any(arg == name or arg.startswith(name + "=") for arg in args)


def service_command(args: Sequence[str]) -> list[str]:
    """The catdog-run arguments the service runs: these, minus --systemd-unit, writing to --out ... --append."""
    args = [arg for arg in args if arg != "--systemd-unit"]
    if not has_option(args, "--out"):
        args += ["--out", DEFAULT_OUT]
    if not has_option(args, "--append"):
        args.append("--append")
    return args


def catdog_run_executable() -> list[str]:
    """How the service starts catdog-run: this venv's catdog-run script, or its Python with -m."""
    python = Path(os.path.abspath(sys.executable))  # not resolved: a venv's python is a symlink out of it
    script = python.parent / "catdog-run"
    return [str(script)] if script.is_file() else [str(python), "-m", "catdog.runtime.cli"]


def service_user() -> str:
    """The user to run as: the one who ran `sudo catdog-run ...`, or the current user."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def systemd_unit(args: Sequence[str], *, working_directory: str | None = None, user: str | None = None,
                 executable: Sequence[str] | None = None) -> str:
    """The text of a systemd unit that runs `catdog-run ARGS` from boot (see the module docstring)."""
    command = [*(executable or catdog_run_executable()), *service_command(args)]
    working_directory = working_directory or os.getcwd()
    user = user or service_user()
    network = any(is_stream_url(arg) for arg in args)
    exec_start = " ".join(quote_word(word) for word in command)
    lines = [
        f"# {UNIT_NAME}: catdog-run unattended from boot, written by `catdog-run ... --systemd-unit`.",
        f"# Install: catdog-run ... --systemd-unit | sudo tee /etc/systemd/system/{UNIT_NAME}",
        f"#          sudo systemctl daemon-reload && sudo systemctl enable --now {UNIT_NAME.split('.')[0]}",
        "# Records: JSON Lines appended and flushed one by one to the --out file (kept across restarts);",
        f"# the summary and any error go to the journal: journalctl -u {UNIT_NAME.split('.')[0]}",
        "[Unit]",
        "Description=catdog-run: classify images from a camera or stream",
        *(["Wants=network-online.target", "After=network-online.target"] if network else []),
        "",
        "[Service]",
        "Type=exec",
        f"User={quote_word(user)}",
        "SupplementaryGroups=video",
        f"WorkingDirectory={quote_word(working_directory)}",
        f"StateDirectory={STATE_DIRECTORY}",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={exec_start}",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=10",
        f"SuccessExitStatus={TERMINATED_EXIT_CODE}",
        "Restart=on-failure",
        "RestartSec=10",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"
