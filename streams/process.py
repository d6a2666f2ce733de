"""How hashgate's faust processes (the scan worker, the downstream agents) run and end.

They log JSON lines with every secret scrubbed, and end with exit codes an orchestrator can act
on: 0 after SIGTERM/SIGINT, 78 (EX_CONFIG) on a configuration error found while running (a
rejected subscription key, a wrong endpoint), 70 (EX_SOFTWARE) on any other fatal error.
Invalid settings at start exit 2, like every other usage error of the ``hashgate`` command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import faust

from streams.errors import ConfigurationError
from streams.observability.logging import logging_config
from streams.settings import Settings

EX_SOFTWARE = 70
EX_CONFIG = 78


def worker_options(settings: Settings) -> dict[str, Any]:
    """faust.Worker keyword arguments: our log format and level, no banner."""
    level = settings.log_level
    return {
        "loglevel": level,
        "logging_config": logging_config(level, settings.secrets()),
        "quiet": True,
    }


def run_worker(worker: faust.Worker, fatal: Callable[[], BaseException | None], name: str) -> None:
    """Run until stopped; a fatal error recorded by the process sets the exit code."""
    try:
        worker.execute_from_commandline()
    except SystemExit:
        error = fatal()
        if error is None:
            raise
        code = EX_CONFIG if isinstance(error, ConfigurationError) else EX_SOFTWARE
        click.echo(f"hashgate {name} stopped: {error}", err=True)
        sys.exit(code)
