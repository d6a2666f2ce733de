"""Default ports per process, and the one-line refusal of a port in use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.errors import EX_CONFIG, ConfigurationError
from streams.ports import DEFAULT_PORTS, check_port_free
from streams.readme_blocks import ReadmeBlock
from streams.settings import WebSettings


def test_every_process_has_its_own_default_port() -> None:
    assert len(set(DEFAULT_PORTS.values())) == len(DEFAULT_PORTS)
    web = WebSettings()
    assert [web.port_of(p) for p in ("worker", "moderation", "reporting", "stats")] == [
        6066,
        6067,
        6068,
        6069,
    ]
    assert WebSettings(port=9100).port_of("stats") == 9100


def test_a_port_in_use_is_refused_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError) as caught:
            check_port_free("127.0.0.1", port, "HASHGATE_WEB__PORT")
    assert str(caught.value) == (
        f"127.0.0.1:{port} is in use: set HASHGATE_WEB__PORT to a free port "
        "(each hashgate process needs its own)"
    )


def test_a_free_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port_free("127.0.0.1", port, "HASHGATE_WEB__PORT")


def test_the_readmes_web_ports_table_lists_every_default() -> None:
    readme = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    table = ReadmeBlock("ports", "edit docs/operations.md").read(readme)
    commands = {"simulator": "hashgate simulator serve"}
    rows = {
        f"| `{commands.get(process, f'hashgate {process}')}` | {port} |"
        for process, port in DEFAULT_PORTS.items()
    }
    assert set(table.splitlines()[2:]) == rows


def test_a_simulator_on_a_busy_port_exits_78_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "streams", "simulator", "serve", "--port", str(port)],
            env={**os.environ, "HASHGATE_SIMULATOR_KEYS": "dev-key"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == EX_CONFIG
    assert done.stderr.strip().splitlines()[-1] == (
        f"hashgate: configuration error: 127.0.0.1:{port} is in use: set --port to a free port "
        "(each hashgate process needs its own)"
    )
    assert "Traceback" not in done.stderr
