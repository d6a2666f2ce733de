"""How hashgate's faust processes (the scan worker, the downstream agents) start, run and end.

They log JSON lines with every secret scrubbed, and end with exit codes an orchestrator can act
on: 0 after SIGTERM/SIGINT; 78 (EX_CONFIG) on a configuration error, whether found at start (an
invalid setting, a topic that cannot be created, a web port in use) or while running (a
rejected subscription key, a wrong endpoint); 70 (EX_SOFTWARE) on any other fatal error.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
import faust
from mode import Service

from streams.errors import EX_CONFIG, EX_SOFTWARE, ConfigurationError
from streams.heap import TRIM_INTERVAL_S, freeze_startup_objects, return_free_memory
from streams.kafka.config import check_kafka_access
from streams.kafka.internals import SignalHooksWorker
from streams.kafka.topics import ensure_topics
from streams.observability.logging import logging_config
from streams.observability.task_dump import dump_tasks
from streams.ports import check_port_free
from streams.settings import Settings


async def _nothing_to_drain() -> None:
    return None


class HashgateWorker(SignalHooksWorker):
    """faust's Worker with a task dump on SIGUSR1 that never crashes and never shows a secret
    (mode's own prints local variables), ``before_stop`` run first on SIGTERM/SIGINT, the
    start-up objects frozen out of the garbage collector's full passes, and the C heap's free
    pages returned to the system every minute (streams/heap.py)."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        before_stop: Callable[[], Awaitable[None]] = _nothing_to_drain,
    ) -> None:
        secrets = [s.get_secret_value() for s in settings.secrets() if s is not None]
        super().__init__(
            app,
            before_stop=before_stop,
            on_task_dump=lambda: dump_tasks(sys.stderr, secrets),
            **worker_options(settings),
        )

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        freeze_startup_objects()

    @Service.timer(TRIM_INTERVAL_S)
    async def _return_free_memory(self) -> None:
        await asyncio.to_thread(return_free_memory)


def worker_options(settings: Settings) -> dict[str, Any]:
    """faust.Worker keyword arguments: our log format and level, no banner."""
    level = settings.log_level
    return {
        "loglevel": level,
        "logging_config": logging_config(level, settings.secrets()),
        "quiet": True,
    }


def prepare_kafka_and_port(
    settings: Settings, process: str, topics: dict[str, dict[str, str]]
) -> None:
    """What a faust process needs before faust starts: its web port free, the broker accepting
    our credentials, its topics created with their settings, its group's coordinator up.
    Raises ConfigurationError (exit 78)."""
    check_port_free(settings.web.host, settings.web.port_of(process), "HASHGATE_WEB__PORT")
    asyncio.run(check_kafka_access(settings.kafka))
    asyncio.run(ensure_topics(settings, topics, group=settings.kafka.consumer_group))


def run_worker(worker: faust.Worker, fatal: Callable[[], BaseException | None], name: str) -> None:
    """Run until stopped; a fatal error recorded by the process sets the exit code."""
    try:
        worker.execute_from_commandline()
    except SystemExit as stopped:
        error = fatal()
        if error is None:
            if stopped.code in (0, None):
                raise
            # faust itself ended badly (its own crash): the runbook's code for a bug, not its 1
            click.echo(f"hashgate {name} stopped: faust exited {stopped.code}", err=True)
            sys.exit(EX_SOFTWARE)
        code = EX_CONFIG if isinstance(error, ConfigurationError) else EX_SOFTWARE
        click.echo(f"hashgate {name} stopped: {error}", err=True)
        sys.exit(code)
