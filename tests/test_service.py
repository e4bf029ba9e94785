"""Tests for running catdog-run as a service: the systemd unit it prints, and a clean stop on SIGTERM.

The SIGTERM test runs the real command in a subprocess on the Picamera2 stand-in
(tests/standins/picamera2), sends SIGTERM while frames are being classified, and checks the
exit (within 2 s, code 143), the last output line (complete JSON) and that the camera was closed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from catdog.runtime.cli import main
from catdog.runtime.service import DEFAULT_OUT, quote_word, service_command, systemd_unit

STANDINS = Path(__file__).parent / "standins"


def unit_fields(text: str) -> dict[str, str]:
    """The Key=value lines of a unit (the last one wins, as for systemd's single-valued keys)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_the_unit_runs_the_same_command_appending_json_lines_to_a_lasting_file():
    text = systemd_unit(["--camera", "picam", "--threads", "4", "--systemd-unit"], working_directory="/home/pi/catdog",
                        user="pi", executable=["/home/pi/catdog/.venv/bin/catdog-run"])
    fields = unit_fields(text)
    assert fields["ExecStart"] == (f"/home/pi/catdog/.venv/bin/catdog-run --camera picam --threads 4 "
                                   f"--out {DEFAULT_OUT} --append")
    assert DEFAULT_OUT.startswith("/var/lib/catdog/") and fields["StateDirectory"] == "catdog"
    assert fields["User"] == "pi" and fields["SupplementaryGroups"] == "video"
    assert fields["WorkingDirectory"] == "/home/pi/catdog"
    assert fields["SuccessExitStatus"] == "143" and fields["KillSignal"] == "SIGTERM"
    assert fields["Restart"] == "on-failure" and fields["WantedBy"] == "multi-user.target"
    assert "network-online.target" not in text  # a camera needs no network
    assert "[Unit]" in text and "[Service]" in text and "[Install]" in text


def test_a_stream_source_waits_for_the_network_and_a_given_out_file_is_kept():
    args = ["rtsp://cam.local/live", "--out", "records.jsonl"]
    assert service_command(args) == [*args, "--append"]
    assert service_command([*args, "--append"]) == [*args, "--append"]
    text = systemd_unit(args, working_directory="/srv", user="pi", executable=["catdog-run"])
    assert "After=network-online.target" in text and DEFAULT_OUT not in text


def test_words_are_quoted_for_systemd():
    assert quote_word("--camera") == "--camera"
    assert quote_word("/home/pi/my models/cats.tflite") == '"/home/pi/my models/cats.tflite"'
    assert quote_word("100%") == "100%%" and quote_word("$HOME") == "$$HOME"
    assert quote_word('say "hi"') == '"say \\"hi\\""'


def test_catdog_run_prints_the_unit_and_exits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--camera", "picam", "--systemd-unit"])
    assert result.exit_code == 0, result.output
    fields = unit_fields(result.stdout)
    assert fields["WorkingDirectory"] == str(tmp_path)
    assert fields["ExecStart"].endswith(f"--camera picam --out {DEFAULT_OUT} --append")
    assert "catdog-run" in fields["ExecStart"].split()[0] or "-m catdog.runtime.cli" in fields["ExecStart"]


def test_a_unit_with_nothing_to_run_is_a_usage_error():
    result = CliRunner().invoke(main, ["--systemd-unit"])
    assert result.exit_code == 2 and "nothing to run" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is a POSIX signal")
def test_sigterm_ends_a_camera_run_cleanly_within_two_seconds(tmp_path):
    events = tmp_path / "events.txt"
    records = tmp_path / "records.jsonl"
    environment = {**os.environ, "PICAMERA2_STANDIN_EVENTS": str(events),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(STANDINS), os.environ.get("PYTHONPATH")]))}
    with open(records, "w") as out, open(tmp_path / "stderr.txt", "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "catdog.runtime.cli", "--camera", "picam", "--format", "json"],
                                   stdout=out, stderr=err, env=environment)
        try:
            deadline = time.monotonic() + 120  # start-up on a loaded machine; the bound under test is below
            while records.read_text().count("\n") < 3:
                assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
                assert time.monotonic() < deadline, "no records from the stand-in camera"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            code = process.wait(timeout=30)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert took < 2.0, f"SIGTERM took {took:.2f} s"
    assert code == 143, stderr
    text = records.read_text()
    assert text.endswith("\n")
    last = json.loads(text.splitlines()[-1])
    assert last["source"] == "picam:0" and last["label"] in ("cats", "dogs")
    assert "(interrupted)" in stderr and "Terminated." in stderr and "Traceback" not in stderr
    assert events.read_text().splitlines()[-1] == "close 0"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path):
    path = tmp_path / "catdog.service"
    path.write_text(systemd_unit(["--camera", "picam", "--model", "my models/100% cats.tflite"],
                                 working_directory=str(tmp_path), user="root", executable=[sys.executable]))
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
