"""``hashgate worker``: the scan worker process, with a drain-first shutdown.

faust stops a worker by cancelling its agents; hashgate first stops taking records and lets
in-flight scans finish (up to ``HASHGATE_SCAN__SHUTDOWN_GRACE_S``), so a deploy does not turn
every in-flight PhotoDNA call into a wasted, repeated one. Exit codes: 0 after SIGTERM/SIGINT,
78 (EX_CONFIG) on a configuration error found while running (a rejected subscription key,
a wrong endpoint), 2 for invalid settings at start, 70 otherwise.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import click
import faust
from pydantic import SecretStr

from streams.app import create_app
from streams.errors import ConfigurationError
from streams.observability.logging import configure_logging, logging_config
from streams.observability.metrics import ScanMetrics
from streams.observability.web import install_pages
from streams.photodna import PhotoDNAMatcher
from streams.scan.agents import install_scan_agents
from streams.scan.service import ScanService
from streams.settings import Settings, load_settings
from streams.topics import ensure_topics, worker_topics

EX_SOFTWARE = 70
EX_CONFIG = 78


class HashgateWorker(faust.Worker):
    def __init__(self, app: faust.App, service: ScanService, grace_s: float, **kw: Any) -> None:
        super().__init__(app, **kw)
        self.service = service
        self.grace_s = grace_s

    async def _stop_on_signal(self, sig: signal.Signals) -> None:
        await self.service.drain(self.grace_s)
        await super()._stop_on_signal(sig)


def build_worker(settings: Settings) -> tuple[faust.App, ScanService]:
    if settings.photodna.subscription_key is None:
        raise ConfigurationError("HASHGATE_PHOTODNA__SUBSCRIPTION_KEY is required by the worker")
    app = create_app(settings)
    metrics = ScanMetrics()
    matcher = PhotoDNAMatcher.from_settings(settings)
    service = ScanService(app, settings, matcher, metrics)
    install_scan_agents(app, settings, service)
    metrics.watch_lag(service.lag)
    if matcher.rate_limiter is not None:
        metrics.watch_rate_limiter(matcher.rate_limiter)
    install_pages(app, metrics.registry, service.readiness, alive=lambda: service.fatal is None)
    return app, service


def _secrets(settings: Settings) -> list[SecretStr | None]:
    return [
        settings.photodna.subscription_key,
        settings.kafka.sasl_password,
        settings.photodna.ncmec_password,
    ]


@click.command("worker")
def worker_command() -> None:
    """Run the scan worker (consumes uploads and rescans, emits verdicts)."""
    settings = load_settings()
    configure_logging(settings.log_level, _secrets(settings))
    app, service = build_worker(settings)
    asyncio.run(ensure_topics(settings, worker_topics(settings)))
    worker = HashgateWorker(
        app,
        service,
        settings.scan.shutdown_grace_s,
        loglevel=settings.log_level,
        logging_config=logging_config(
            settings.log_level,
            [
                settings.photodna.subscription_key,
                settings.kafka.sasl_password,
                settings.photodna.ncmec_password,
            ],
        ),
        quiet=True,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if service.fatal is None:
            raise
        code = EX_CONFIG if isinstance(service.fatal, ConfigurationError) else EX_SOFTWARE
        click.echo(f"hashgate worker stopped: {service.fatal}", err=True)
        sys.exit(code)
