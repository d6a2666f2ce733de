"""One downstream agent process: its faust app, loops, tables, pages, topics and exit codes.

Each agent (moderation, reporting, stats) runs as its own process with its own consumer group,
``<HASHGATE_KAFKA__CONSUMER_GROUP>-<role>``, so each reads every match verdict, scales on its
own, and a stalled reporting agent (NCMEC down) never holds back moderation. The group is also
the faust app id, so the tables' changelog topics (``<group>-<table>-changelog``) are the
agent's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any, TypeVar, cast

from faust.types import StreamT
from mode.utils.times import want_seconds

from streams.downstream.base import DownstreamLoop, Sink
from streams.downstream.metrics import DownstreamMetrics
from streams.downstream.store import SeenStore
from streams.downstream.writer import agent_writer
from streams.events import Event
from streams.events.topics import topics_of
from streams.kafka.app import assigned, create_app, flush_producer, raw_topic
from streams.kafka.confirmed import ConfirmedWriter, FaustWriter
from streams.kafka.rocksdb_memory import table_options
from streams.observability.logging import configure_logging
from streams.observability.web import install_pages
from streams.process import HashgateWorker, prepare_kafka_and_port, run_worker
from streams.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T", bound=Event)


def agent_settings(settings: Settings, role: str) -> Settings:
    """``settings`` with the agent's own consumer group."""
    group = f"{settings.kafka.consumer_group}-{role}"
    kafka = settings.kafka.model_copy(update={"consumer_group": group})
    return settings.model_copy(update={"kafka": kafka})


class DownstreamApp:
    """Builds a downstream process; ``run()`` blocks until it stops."""

    def __init__(
        self,
        settings: Settings,
        role: str,
        registry_role: str,
        *,
        exactly_once: bool = False,
        **faust_overrides: Any,
    ) -> None:
        """``registry_role`` names the process in the topic registry, which says the topics it
        reads and writes (streams/events/topics.py). ``exactly_once``: Kafka transactions, for
        an agent that writes to Kafka only (docs/operations.md, "State")."""
        self.role = role
        self.settings = agent_settings(settings, role)
        self.app = create_app(self.settings, role, exactly_once=exactly_once, **faust_overrides)
        self.metrics = DownstreamMetrics()
        self.loops: list[DownstreamLoop[Any]] = []
        self.fatal: BaseException | None = None
        self.topics = topics_of(self.settings.topics, registry_role)
        self.writer = FaustWriter(self.app, writes=self.topics.keys())  # a live view
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._crash: asyncio.Task[None] | None = None
        self._seen: SeenStore | None = None
        self.app.on_before_shutdown.connect(self._close)

    # -- building ---------------------------------------------------------------------------

    def writer_for(self, agent: str) -> ConfirmedWriter:
        """``agent``'s writes: retried until Kafka confirms them, counted per topic."""
        return agent_writer(self.writer, agent=agent, metrics=self.metrics)

    def table(self, name: str, *, expires: timedelta | None = None) -> MutableMapping[str, str]:
        """A changelogged table of strings (see streams.downstream.store).

        With ``expires``, an entry is kept at least that long and dropped within twice that
        (docs/operations.md, "State"): RocksDB's TTL compacts it out of the local files (its
        clock starts when the entry reaches this disk), and the changelog topic, compacted
        *and* time-retained, deletes its record, so a fresh instance never restores it.
        """
        if expires is None:
            table = self.app.Table(name, key_type=str, value_type=str, options=self.store_options())
        else:
            table = self.app.Table(
                name,
                key_type=str,
                value_type=str,
                options=self.store_options(ttl_s=expires.total_seconds()),
                extra_topic_configs={
                    "cleanup.policy": "compact,delete",
                    "retention.ms": str(int(expires.total_seconds() * 1000)),
                },
            )
        return cast(MutableMapping[str, str], table)

    def store_options(self, *, ttl_s: float | None = None) -> dict[str, Any]:
        """Options of a table's store: every table of an agent keeps RocksDB's memory within
        the state settings (streams/kafka/rocksdb_memory.py); faust's defaults would let
        it grow with the state."""
        return table_options(self.settings.state, ttl_s=ttl_s)

    def seen(self) -> SeenStore:
        """The process's one idempotency table; ids of different loops never collide."""
        if self._seen is None:
            expires = timedelta(days=self.settings.state.seen_expiry_days)
            self._seen = SeenStore(self.table("seen", expires=expires))
        return self._seen

    async def flush_table_writes(self) -> None:
        """Return once every table write so far is confirmed in its changelog topic (faust
        sends those in the background)."""
        await flush_producer(self.app)

    def writes(self, topic: str) -> None:
        """Declare an output topic the registry does not know (a process's own repartition
        topic), created at start if missing."""
        self.topics.setdefault(topic, {})

    def on_close(self, close: Callable[[], Awaitable[None]]) -> None:
        self._closers.append(close)

    def add_loop(self, name: str, topic: str, sink: Sink[T], *, dedupe: bool = True) -> None:
        """A faust agent on ``topic`` feeding ``sink`` through a DownstreamLoop."""
        loop = DownstreamLoop(
            name,
            sink,
            writer=self.writer_for(name),
            dlq_topic=self.settings.topics.downstream_errors,
            metrics=self.metrics,
            on_fatal=self._on_fatal,
            seen=self.seen() if dedupe else None,
        )
        self.loops.append(loop)
        self.topics.setdefault(topic, {})

        async def consume(stream: StreamT[bytes]) -> None:
            await loop.run(stream)

        self.app.agent(raw_topic(self.app, topic, self.settings), name=f"hashgate.{name}")(consume)

    # -- running ----------------------------------------------------------------------------

    async def _on_fatal(self, exc: BaseException) -> None:
        if self.fatal is not None:
            return
        self.fatal = exc
        # From a task of its own: the caller runs inside an agent, which the crash cancels.
        self._crash = asyncio.get_running_loop().create_task(self.app.crash(exc))

    async def _close(self, *_: Any, **__: Any) -> None:
        for close in self._closers:
            await close()

    def changelog_topics(self) -> dict[str, dict[str, str]]:
        """The tables' changelog topics with the configs faust would give them (its aiokafka
        driver's ``_topic_config``), so they exist before faust's clients ask for them."""
        topics = {}
        for table in self.app.tables.values():
            changelog = table.changelog_topic
            policy = [
                flag
                for flag, on in (("compact", changelog.compacting), ("delete", changelog.deleting))
                if on
            ]
            config = {"cleanup.policy": ",".join(policy)} if policy else {}
            if changelog.retention:
                config["retention.ms"] = str(int(want_seconds(changelog.retention) * 1000))
            # The table's own topic configs (extra_topic_configs) win, as in faust's driver.
            config.update({str(k): str(v) for k, v in (changelog.config or {}).items()})
            topics[changelog.get_topic_name()] = config
        return topics

    def readiness(self) -> tuple[bool, str]:
        if self.fatal is not None:
            return False, "stopped on a fatal error"
        if not all(loop.running for loop in self.loops):
            return False, "not consuming"
        if assigned(self.app):
            return True, "consuming"
        return False, "no partitions assigned yet"

    def run(self) -> None:
        """Create missing topics, serve the pages, consume until stopped.

        Exit codes as the scan worker's: 78 on a configuration error, 70 on another fatal one.
        """
        configure_logging(self.settings.log_level, self.settings.secrets())
        prepare_kafka_and_port(self.settings, self.role, self.topics | self.changelog_topics())
        install_pages(
            self.app, self.metrics.registry, self.readiness, alive=lambda: self.fatal is None
        )
        run_worker(HashgateWorker(self.app, self.settings), lambda: self.fatal, self.role)
