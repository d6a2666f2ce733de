"""``hashgate worker``: the scan worker process, with a drain-first shutdown.

faust stops a worker by cancelling its agents; hashgate first stops taking records and lets
in-flight scans finish (up to ``HASHGATE_SCAN__SHUTDOWN_GRACE_S``), so a deploy does not turn
every in-flight PhotoDNA call into a wasted, repeated one. faust's own stop then flushes the
producer and commits, which waits forever for a broker that is gone: a stop that has not ended
``STOP_MARGIN_S`` after the grace period ends the process there. Nothing is lost by that: only
records whose outcomes the broker confirmed were ever acked, so the rest are read again by
whichever worker owns their partitions next. Exit codes: see streams/process.py.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Awaitable, Callable

import click
import faust

from streams.errors import ConfigurationError
from streams.events.topics import SCAN_WORKER, topics_of
from streams.kafka.app import create_app
from streams.observability.logging import configure_logging
from streams.observability.metrics import ScanMetrics
from streams.observability.web import install_pages
from streams.photodna import PhotoDNAMatcher
from streams.process import HashgateWorker, prepare_kafka_and_port, run_worker
from streams.savers.setup import saver_topics, with_quota_savers
from streams.scan.agents import install_scan_agents
from streams.scan.service import ScanService
from streams.settings import Settings, load_settings

log = logging.getLogger(__name__)

#: Seconds faust's own stop (producer flush, final commit, leaving the group) may take after
#: the drain's grace period before the process ends anyway.
STOP_MARGIN_S = 4.0


def end_unfinished_stop(budget_s: float) -> None:
    """Runs in a timer thread, so a stop stuck inside the event loop cannot hold it up."""
    log.warning(
        "stop did not finish within %.0fs (is Kafka reachable?): exiting now; records not "
        "confirmed by the broker were never committed and will be read again",
        budget_s,
    )
    sys.stderr.flush()
    os._exit(0)  # a requested stop, with nothing committed past what the broker confirmed


def drain_then_stop(service: ScanService, grace_s: float) -> Callable[[], Awaitable[None]]:
    """On SIGTERM/SIGINT: let in-flight scans finish, with a deadline for the whole stop."""

    async def before_stop() -> None:
        budget_s = grace_s + STOP_MARGIN_S
        deadline = threading.Timer(budget_s, end_unfinished_stop, args=(budget_s,))
        deadline.daemon = True
        deadline.start()
        await service.drain(grace_s)

    return before_stop


def build_worker(settings: Settings) -> tuple[faust.App, ScanService]:
    if settings.photodna.subscription_key is None:
        raise ConfigurationError("HASHGATE_PHOTODNA__SUBSCRIPTION_KEY is required by the worker")
    app = create_app(settings)
    metrics = ScanMetrics()
    matcher = PhotoDNAMatcher.from_settings(settings)
    if matcher.breaker is None:
        raise ConfigurationError("the scan worker needs a PhotoDNA client with a circuit breaker")
    service = ScanService(
        app,
        settings,
        with_quota_savers(app, settings, matcher, metrics),
        matcher.breaker,
        metrics,
        quota=matcher.rate_limiter,
    )
    install_scan_agents(app, settings, service)
    metrics.watch_lag(service.lag)
    if matcher.rate_limiter is not None:
        metrics.watch_rate_limiter(matcher.rate_limiter)
    metrics.watch_photodna(matcher.client)
    install_pages(app, metrics.registry, service.readiness, alive=lambda: service.fatal is None)
    return app, service


@click.command("worker")
def worker_command() -> None:
    """Run the scan worker (consumes uploads and rescans, emits verdicts)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.secrets())
    app, service = build_worker(settings)
    topics = {**topics_of(settings.topics, SCAN_WORKER), **saver_topics(settings)}
    prepare_kafka_and_port(settings, "worker", topics)
    before_stop = drain_then_stop(service, settings.scan.shutdown_grace_s)
    worker = HashgateWorker(app, settings, before_stop)
    run_worker(worker, lambda: service.fatal, "worker")
