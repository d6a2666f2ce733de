"""Kafka transactions per source partition: what faust's ``exactly_once`` guarantee lacks.

With ``processing_guarantee="exactly_once"`` faust writes through one transactional producer
per source partition and commits the consumed offsets inside its transaction. Three gaps in
faust-streaming 0.15.3 (faust/transport/consumer.py) would still lose or double records:

- ``TransactionManager.send`` picks the transactional id from the partition the record goes
  *to*: a record for a topic the consumer does not read gets no partition, hence no
  transaction at all, and one it does read lands in another partition's transaction.
  Here a record written while a source record is handled joins the transaction of that
  source partition (``transaction_of``); a table's changelog record, written later by faust's
  producer buffer, carries the source partition already (tables are co-partitioned).
- The offset commit runs on a timer, beside the agents: it could commit a transaction in the
  middle of a record, whose first writes then count as done while its offset does not. Here an
  agent handles each record inside ``record()``; the consumer picks the offsets to commit only
  once no record is in progress (``between_records``), and ``commit`` waits until every table
  write of the handled ones reached its transaction. A rebalance commits first too: faust
  forgets the uncommitted acks but keeps the open transaction of a partition it gets back
  (streams/kafka/transport.py, ``Consumer.on_partitions_revoked``).
- A record left unfinished (its agent stopped on an error, or its task was cancelled by a
  stop) may have sent some of its writes into its partition's transaction without its ack;
  faust's next commit, the one at the stop included, would commit them without its offset.
  Here such a record marks the gate, and from then on this process commits nothing: its open
  transactions are aborted (by the broker, or at once by the next instance that takes their
  transactional ids), and the records since the last commit are read again.
- Table writes made outside any record (faust's expiry of old windows) would join some
  partition's open transaction, which the broker aborts if that partition stays idle past the
  transaction timeout. They are deletions that may be repeated, so they go out without a
  transaction (streams/kafka/transport.py).

Local table state is the remaining gap; streams/kafka/transactional_store.py closes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Protocol, cast

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import ProducerFenced
from faust.exceptions import ProducerSendError
from faust.streams import current_event
from faust.transport.consumer import TransactionManager
from faust.types import TP, AppT, ConsumerT, RecordMetadata
from faust.types.core import HeadersArg

from streams.kafka.internals import transaction_producer_client
from streams.kafka.producer_topics import TrackedTopics

log = logging.getLogger(__name__)

#: Set in the task that sends a table write made outside any record: no transaction.
OUTSIDE_TRANSACTIONS: ContextVar[bool] = ContextVar("hashgate_outside_transactions", default=False)


class RecordStep(Protocol):
    """What an agent holds while it handles one record."""

    def leave_unfinished(self) -> None:
        """The record ends here without its ack, perhaps after some of its writes."""


class _NoTransaction:
    """At-least-once: an unfinished record is read again, nothing to guard."""

    def leave_unfinished(self) -> None:
        """Nothing to do."""


class RecordGate:
    """Records in progress versus a commit: a commit waits until none is in progress and holds
    new ones back while it runs. Commits may overlap (the timer's and a rebalance's): records
    stay out until the last one ends."""

    def __init__(self) -> None:
        self._in_progress = 0
        self._committing = 0
        self._changed = asyncio.Condition()
        #: A record was left unfinished: no transaction of this process may commit any more.
        self.unfinished = False

    def leave_unfinished(self) -> None:
        if not self.unfinished:
            log.warning(
                "a record was left unfinished: this process commits no transaction any more; "
                "they abort, and their records are read again after a restart"
            )
        self.unfinished = True

    @asynccontextmanager
    async def record(self) -> AsyncIterator[RecordStep]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._committing)
            self._in_progress += 1
        try:
            yield self
        except BaseException:  # an error or a cancellation ends the record without its ack
            self.leave_unfinished()
            raise
        finally:
            async with self._changed:
                self._in_progress -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def between_records(self) -> AsyncIterator[None]:
        async with self._changed:
            self._committing += 1
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self._in_progress == 0)
            yield
        finally:
            async with self._changed:
                self._committing -= 1
                self._changed.notify_all()


class SourcePartitionTransactions(TransactionManager):
    """faust's transaction manager, with the transaction chosen by the source partition and the
    commit taken between records (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = RecordGate()
        self._tracked: dict[str, tuple[AIOKafkaClient, TrackedTopics]] = {}

    def transaction_of(self, tp: TP) -> str:
        """The transactional id of a source (or changelog) partition, as faust commits it."""
        group = self.app.assignor.group_for_topic(tp.topic)
        return f"{self.app.conf.id}-{group}-{tp.partition}"

    def record(self) -> AbstractAsyncContextManager[RecordStep]:
        """Handle one record inside, its ack included: no commit runs meanwhile."""
        return self.gate.record()

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> Awaitable[RecordMetadata]:
        if OUTSIDE_TRANSACTIONS.get():
            return await self.producer.send(topic, key, value, partition, timestamp, headers)
        event = current_event()
        if event is not None:
            source = event.message.tp
        elif partition is not None:  # a table's changelog record: the source's partition
            source = TP(topic, partition)
        else:
            raise ProducerSendError(f"a write to {topic} outside a record has no transaction")
        tid = self.transaction_of(source)
        self._track(tid, topic)
        return await self.producer.send(
            topic, key, value, partition, timestamp, headers, transactional_id=tid
        )

    def _track(self, tid: str, topic: str) -> None:
        """Each transactional producer has its own client: the same metadata gap as the main
        producer's (streams/kafka/producer_topics.py)."""
        client = transaction_producer_client(self.producer, tid)
        if client is None:  # no producer for it: the send says so
            return
        known = self._tracked.get(tid)
        if known is None or known[0] is not client:  # a new producer after a rebalance
            known = self._tracked[tid] = (client, TrackedTopics(client))
        known[1].track(topic)

    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        """Once every table write of the handled records is in its transaction (faust's buffer
        sends them later); a failed one raises here and nothing commits. The consumer calls
        this between records (``between_records``). Nothing commits once a record was left
        unfinished (the module docstring)."""
        if self.gate.unfinished:
            return False
        await cast(Any, self.app.producer).settled()
        # faust's producer only logs a commit for a transaction it has no producer for
        # (fenced, or never begun): the stores would then keep changes Kafka never took.
        for tid in sorted({self.transaction_of(tp) for tp in offsets}):
            if transaction_producer_client(self.producer, tid) is None:
                raise ProducerFenced(f"no producer for transaction {tid}: not committing")
        return await super().commit(offsets, start_new_transaction)


def between_records(consumer: ConsumerT) -> AbstractAsyncContextManager[None]:
    """What faust's consumer commits in: with exactly-once processing, a moment no record is in
    progress, taken *before* faust picks the offsets to commit. Taken later (in ``commit``), a
    record acked meanwhile would have its writes committed without its offset, and be handled
    again: a kill -9 test once found a re-keyed verdict committed twice."""
    if consumer.in_transaction:
        return cast(SourcePartitionTransactions, consumer.transactions).gate.between_records()
    return nullcontext()


def record_step(app: AppT) -> AbstractAsyncContextManager[RecordStep]:
    """What an agent handles one record in: a transaction's record step with exactly-once
    processing, nothing otherwise."""
    if app.in_transaction:
        return cast(SourcePartitionTransactions, app.consumer.transactions).record()
    return nullcontext(_NoTransaction())
