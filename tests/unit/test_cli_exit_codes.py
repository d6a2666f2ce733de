"""The ``hashgate`` command ends with the runbook's exit codes whatever goes wrong, never a bare 1
with a traceback an orchestrator cannot classify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from streams import cli as cli_module
from streams.errors import EX_SOFTWARE, EX_UNAVAILABLE

pytestmark = pytest.mark.unit


def test_an_operator_command_with_no_broker_answering_exits_69_naming_the_setting(
    tmp_path: Path,
) -> None:
    # Port 1 on loopback: nothing listens, so the bootstrap fails at once.
    env = {**os.environ, "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-m", "streams", "dlq", "replay", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == EX_UNAVAILABLE, done.stderr
    assert "HASHGATE_KAFKA__BOOTSTRAP_SERVERS" in done.stderr
    assert "Traceback" not in done.stderr
    assert "Unclosed" not in done.stderr, "a failed start leaves no client half open"


def test_an_unexpected_error_in_a_command_exits_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("explode")
    def explode() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sys, "argv", ["hashgate", "explode"])
    monkeypatch.setitem(cli_module.COMMANDS, "explode", lambda: explode)
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()

    assert stopped.value.code == EX_SOFTWARE
    assert "unexpected error, a bug" in capsys.readouterr().err
