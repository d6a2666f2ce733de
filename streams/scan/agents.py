"""Declares the scan worker's topics and agents on a faust app."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP, StreamT

from streams.kafka.app import raw_topic
from streams.kafka.broker_watch import PROBE_INTERVAL_S
from streams.photodna import Lane
from streams.scan import rescan_yield
from streams.scan.service import ScanService
from streams.settings import Settings


def install_scan_agents(app: faust.App, settings: Settings, service: ScanService) -> None:
    topics = settings.topics

    @app.agent(raw_topic(app, topics.uploads, settings), name="hashgate.scan.live")
    async def scan_live(stream: StreamT[bytes]) -> None:
        await service.consume(stream, Lane.LIVE)

    @app.agent(raw_topic(app, topics.rescans, settings, backlog=True), name="hashgate.scan.rescan")
    async def scan_rescans(stream: StreamT[bytes]) -> None:
        await service.consume(stream, Lane.RESCAN)

    @app.agent(raw_topic(app, topics.retries, settings, backlog=True), name="hashgate.scan.retries")
    async def scan_retries(stream: StreamT[bytes]) -> None:
        await service.consume_retries(stream)

    outputs = [topics.verdicts_match, topics.verdicts_clear, topics.scan_errors]

    @app.task  # type: ignore[untyped-decorator]
    async def declare_outputs() -> None:
        for name in outputs:
            await raw_topic(app, name, settings).maybe_declare()

    @app.task  # type: ignore[untyped-decorator]
    async def stop_on_failure() -> None:
        await service.stop_on_failure()

    app.timer(PROBE_INTERVAL_S)(service.kafka_watch.probe)
    app.timer(rescan_yield.PERIOD_S)(service.yield_to_live)
    app.timer(settings.state.checkpoint_interval_s)(service.checkpoint)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        assigned: set[TP] = args[0]
        service.on_partitions_assigned(assigned)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked: set[TP] = args[0]
        await service.on_partitions_revoked(revoked)
