"""The Faust app factory: one place that turns Settings into a configured faust.App.

Parts of hashgate (the scan agent, rescans, downstream agents) install themselves onto the app
this returns; the app itself knows nothing of PhotoDNA.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import faust
from faust.exceptions import ConsumerNotStarted
from faust.types import TP

from streams.kafka.backlog import BACKLOG_BUFFER, mark_backlog
from streams.kafka.config import faust_broker_urls, faust_credentials
from streams.kafka.partitioner import KeyPartitioner
from streams.kafka.rocksdb_store import store_url
from streams.kafka.table_manager import PromptTableManager
from streams.kafka.transactional_store import TransactionalTableManager
from streams.kafka.windowed_table import Table
from streams.settings import Settings


def state_dir(settings: Settings, process: str) -> Path:
    """faust's data folder (RocksDB tables live there); not in the working directory.

    One per instance: two workers of one group on a host must not open the same RocksDB files,
    and a restarted instance (same group, same port) finds its tables again. faust creates the
    folder itself but not its parent.
    """
    parent = settings.state.dir or Path(tempfile.gettempdir()) / "hashgate-faust"
    parent.mkdir(parents=True, exist_ok=True)
    return parent / f"{settings.kafka.consumer_group}-{settings.web.port_of(process)}"


#: Records one poll of the consumer hands to the agents. faust hands them over one per turn of
#: the event loop (each waits on a task of its own), so a live upload that arrives just after a
#: poll of rescans waits as many turns as the poll holds. The poll must also fit in what an
#: agent's queue has left once it passed the mark that stops its topic (streams/kafka/buffering.py),
#: a fifth of its size, or the poll would wait for that queue, holding every other topic back.
POLL_RECORDS = 50


def create_app(
    settings: Settings, process: str = "worker", *, exactly_once: bool = False, **overrides: Any
) -> faust.App:
    """A faust.App for ``settings``, serving on ``process``'s web port; ``overrides`` are faust
    settings (tests use a few).

    ``exactly_once``: Kafka transactions per source partition (streams/kafka/transactions.py)
    and RocksDB tables whose changes wait for their transaction
    (streams/kafka/transactional_store.py)."""
    options: dict[str, Any] = {
        "broker": faust_broker_urls(settings.kafka),
        "broker_credentials": faust_credentials(settings.kafka),
        "autodiscover": False,
        "store": store_url(settings.state, transactional=exactly_once),
        "datadir": state_dir(settings, process),
        "Table": Table,
        "table_standby_replicas": settings.state.standby_replicas,
        "web_enabled": True,
        "web_bind": settings.web.host,
        "web_host": settings.web.host,
        "web_port": settings.web.port_of(process),
        "topic_partitions": settings.topics.partitions,
        "topic_replication_factor": settings.topics.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        # faust's leader-election topic serves only ``on_leader`` tasks, which hashgate has
        # none of; left on, faust creates it behind hashgate's topic set-up and a first start
        # can log "Topic ...-__assignor-__leader not found in cluster metadata" at ERROR.
        "topic_disable_leader": True,
        # hashgate drains in-flight scans itself on shutdown and rebalance; faust's own wait
        # would also wait for buffered events the agent never took, and has no deadline.
        "stream_wait_empty": False,
        "broker_max_poll_records": POLL_RECORDS,
        "producer_acks": -1,
        "producer_partitioner": KeyPartitioner(),
        "broker_commit_interval": 1.0,
        "broker_session_timeout": settings.kafka.session_timeout_s,
        "broker_heartbeat_interval": settings.kafka.session_timeout_s / 4,
        "TableManager": PromptTableManager,
    }
    if exactly_once:
        options["processing_guarantee"] = "exactly_once"
        options["TableManager"] = TransactionalTableManager
    options.update(overrides)
    app = faust.App(settings.kafka.consumer_group, **options)
    return app


def raw_topic(
    app: faust.App, name: str, settings: Settings, *, backlog: bool = False
) -> faust.TopicT:
    """Bytes in, bytes out: the agent decodes itself so bad input reaches the DLQ intact.

    ``backlog``: a topic whose records wait while live ones go first (streams/kafka/backlog.py):
    its agent's queue is ``BACKLOG_BUFFER`` (set on the topic, whose clones, the agents'
    streams, copy it: ``App.topic`` drops a ``maxsize``), its records come last in each poll.
    """
    topic = app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topics.partitions,
        replicas=settings.topics.replication_factor,
    )
    if backlog:
        topic.maxsize = BACKLOG_BUFFER
        mark_backlog(app, name)
    return topic


def assigned(app: faust.App, topics: Collection[str] | None = None) -> set[TP]:
    """The partitions (of ``topics``, or every topic) assigned to this instance: none before
    its consumer started."""
    with contextlib.suppress(ConsumerNotStarted):
        return {tp for tp in app.consumer.assignment() if topics is None or tp.topic in topics}
    return set()


def partition_count(app: faust.App, topic: str) -> int | None:
    """``topic``'s partition count as the consumer knows it from the broker; None before it
    learned it."""
    return app.consumer.topic_partitions(topic)


async def flush_producer(app: faust.App) -> None:
    """Return once every record faust's producer sent so far (table writes too) is confirmed."""
    await app.producer.flush()
