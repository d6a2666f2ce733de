"""The private parts of faust, mode and aiokafka that hashgate relies on, and nowhere else.

No module outside streams/kafka reaches behind these libraries' public APIs (within the layer,
seek_first.py, direct_delivery.py and transport.py do, for the entries below that name them).
Each entry is pinned by tests/unit/kafka/test_internals.py, which fails loudly when an upgrade
changes it:

- faust's aiokafka driver, ``Producer._ensure_producer()``: the aiokafka producer under faust's,
  whose client must track every topic hashgate writes (producer_topics.py); faust has no public
  accessor for it.
- faust's aiokafka driver, ``Producer._transaction_producers``: the aiokafka producer of each
  transactional id, whose client must track the topics it writes like the main one
  (transactions.py).
- faust's ``TableManager._pending_persisted_offsets`` (changelog partition -> store, offset)
  and the RocksDB store's ``_key_index``: the transactional store and its table manager
  (transactional_store.py) store those offsets and index those keys as faust's own would.
- faust's ``Consumer._committed_offset``: the offset last committed per partition, for the lag
  metric; faust keeps it but offers no accessor.
- faust's RocksDB ``Store._db_for_partition(partition)`` and the memory store's ``data``: one
  partition of a table's store, which the worker writes after Kafka confirmed the changelog
  record itself (streams/kafka/latest_table.py); faust's own table write would not wait.
- mode's ``Worker._stop_on_signal(sig)``: runs on SIGTERM/SIGINT before the worker stops; the
  scan worker drains its in-flight scans there first.
- mode's ``Worker._on_sigusr1()``: its task dump printed local variables (keys, pre-signed
  URLs); hashgate's own dump replaces it.
- faust's ``AIOKafkaConsumerThread._create_worker_consumer(transport)`` builds the aiokafka
  consumer with ``fetch_max_wait_ms=1500`` hard-coded, and aiokafka's consumer keeps that
  option as ``_fetch_max_wait_ms`` until ``start()`` hands it to its fetcher: the transport
  driver (transport.py) lowers it there, before the start.
- aiokafka's ``Fetcher._get_actions_per_node(assignment)`` plans the next fetch of each broker
  from ``assignment.tps`` and ``assignment.state_value(tp)`` alone (leaving out a partition in
  ``Fetcher._records``, paused, or without a valid position), builds it with
  ``Fetcher._fetch_max_wait_ms`` and returns the requests first, as (broker, request) pairs whose
  ``topics`` list (topic, [(partition, offset, max bytes)]); the fetch answer's high watermark
  of a partition is kept as ``state_value(tp).highwater``; its fetch routine calls it through
  ``self`` before each round. The transport's consumer thread sets that wait before each plan
  (fetch_wait.py) and leaves idle backlog partitions out of it (backlog.py), from its first poll
  of the started consumer on.

- faust's ``Consumer._is_changelog_tp(tp)`` tells a table's changelog partition from a stream
  partition; the seek-first consumer (seek_first.py) holds back only the latter. It also relies
  on the order of faust's recovery (resume stream partitions, seek, clear the queues, resume
  the flow), and on aiokafka's ``Fetcher.fetched_records`` reading an empty partition set as
  "every partition", which the transport's consumer thread never hands it (transport.py). Not
  private, but pinned there too: aiokafka's ``seek_to_committed`` moves only partitions committed
  above offset 0, which the seek-first consumer makes up for.
- faust's ``ThreadDelegateConsumer._new_consumer_thread()`` builds the consumer's thread; the
  transport driver's consumer (transport.py) returns its own thread class there.
- faust's ``AIOKafkaConsumerThread._fetch_records(consumer, active_partitions, timeout,
  max_records)`` takes a poll's records from aiokafka's fetcher on the consumer's thread, and
  aiokafka's ``Fetcher._records`` (partition -> fetched records, an ordered dict) is the order
  ``Fetcher.fetched_records`` hands them out in: the transport driver's thread (transport.py)
  moves the backlog topics' partitions (backlog.py) to its end first.
- faust's ``Consumer._drain_messages`` hands every fetched record over with ``await
  self.wait_first(callback(message), self.suspend_flow.wait())``, and mode's
  ``Service.wait_first(*coros, timeout)`` races them against the service's ``_stopped`` and
  ``_crashed`` events: the direct-delivery consumer (direct_delivery.py) runs the callback's
  first step in place and defers to mode's ``wait_first`` whenever the flow is suspended, the
  consumer stopping or the callback has to wait.
- faust's ``Table._maybe_set_key_ttl(key, partition)``, called on every write, pushes a
  windowed key's window end onto ``_partition_timestamps`` and adds the key to
  ``_partition_timestamp_keys[(partition, end)]`` when ``_should_expire_keys()``; its clean-up
  pops an end and that entry together. windowed_table.py pushes an end once per window.
- faust's ``TableManager._update_channels()``, which registers the tables' changelog channels:
  ``TableManager.on_start`` calls it after a one-second sleep, then starts the recovery; the
  prompt table manager (table_manager.py) does the same without the sleep. faust's ``add``
  refuses a table once it ran, so a table declared late still fails loudly.
- faust's ``TableManager._recovery`` (the recovery its ``recovery`` property builds once) and
  ``Recovery._set_recovery_ended()``: the transactional table manager builds its own recovery
  there, whose watcher ends a recovery as faust's own end of recovery does (flush the
  buffers, ``_set_recovery_ended()``, set ``signal_recovery_end``) when the changelogs end in
  transaction markers, instead of faust's fallback of two 5-second waits (recovery.py).

faust's consumer is customised through faust's own extension point instead: a transport
driver registered for a URL scheme (streams/kafka/transport.py).
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable, Collection, Iterable, MutableMapping
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.client import AIOKafkaClient
from faust.stores.rocksdb import Store as RocksDBStore
from faust.transport.drivers.aiokafka import Producer as AIOKafkaFaustProducer
from faust.types import TP, ProducerT


def producer_client(producer: ProducerT) -> AIOKafkaClient:
    """The aiokafka client under a started faust producer of the aiokafka driver."""
    client = cast(AIOKafkaFaustProducer, producer)._ensure_producer().client
    return cast(AIOKafkaClient, client)


def transaction_producer_client(producer: ProducerT, tid: str) -> AIOKafkaClient | None:
    """The aiokafka client of faust's transactional producer for ``tid``; None if it has none."""
    producers = cast(AIOKafkaFaustProducer, producer)._transaction_producers
    transactional = producers.get(tid)
    return None if transactional is None else cast(AIOKafkaClient, transactional.client)


def set_fetch_max_wait(consumer: AIOKafkaConsumer, ms: int) -> None:
    """How long the broker may hold an empty fetch of a consumer that is not started yet."""
    cast(Any, consumer)._fetch_max_wait_ms = ms


#: Whether the fetch being planned can ask for a partition: assigned, positioned, not paused,
#: nothing of it buffered.
Fetchable = Callable[[TP], bool]
#: Where a partition's next fetch starts, if the last fetch answer for it (its high watermark)
#: said nothing lies beyond; None otherwise, or while it has no position.
DrainedAt = Callable[[TP], int | None]


class _AssignmentWithout:
    """An aiokafka assignment as its fetch plan reads it, without some of its partitions."""

    def __init__(self, assignment: Any, left_out: Collection[TP]) -> None:
        self.tps = assignment.tps.difference(left_out)
        self.state_value = assignment.state_value


def plan_fetches(
    consumer: AIOKafkaConsumer,
    *,
    wait_ms: Callable[[Fetchable], int],
    sitting_out: Callable[[Collection[TP], DrainedAt], Collection[TP]],
    asked: Callable[[Iterable[tuple[TP, int]]], None],
) -> None:
    """Before each plan of aiokafka's fetcher: set the wait of the fetches it plans to
    ``wait_ms(fetchable)``, and leave the partitions ``sitting_out(assigned, drained_at)`` out
    of them; after it, tell ``asked`` each partition the planned fetches ask for, with its offset.
    Call on the started consumer's loop."""
    fetcher = cast(Any, consumer)._fetcher
    plan = fetcher._get_actions_per_node
    records = fetcher._records

    def planned(assignment: Any) -> Any:
        def fetchable(tp: TP) -> bool:
            if tp in records or tp not in assignment.tps:
                return False
            state = assignment.state_value(tp)
            return bool(state.has_valid_position and not state.paused)

        def drained_at(tp: TP) -> int | None:
            state = assignment.state_value(tp)
            if not state.has_valid_position or state.highwater is None:
                return None
            return cast(int, state.position) if state.highwater <= state.position else None

        fetcher._fetch_max_wait_ms = wait_ms(fetchable)
        left_out = sitting_out(assignment.tps, drained_at)
        actions = plan(_AssignmentWithout(assignment, left_out) if left_out else assignment)
        asked(
            (TP(topic, partition), offset)
            for _node, request in actions[0]
            for topic, partitions in request.topics
            for partition, offset, _max_bytes in partitions
        )
        return actions

    fetcher._get_actions_per_node = planned


def fetched_last(consumer: AIOKafkaConsumer, topics: Collection[str]) -> None:
    """Put the fetched records of ``topics``' partitions behind every other partition's in the
    order aiokafka hands fetched records out in. Call it on the consumer's own loop."""
    fetched = cast(Any, consumer)._fetcher._records
    for tp in [tp for tp in fetched if tp.topic in topics]:
        fetched.move_to_end(tp)


def consumer_lag(app: faust.App, partitions: Iterable[TP]) -> dict[tuple[str, int], int]:
    """Per partition: records between faust's last commit and the partition's high water."""
    consumer = app.consumer
    committed = cast(Any, consumer)._committed_offset
    lags: dict[tuple[str, int], int] = {}
    for tp in partitions:
        highwater = consumer.highwater(tp)
        if highwater is not None:
            lags[(tp.topic, tp.partition)] = max(highwater - (committed.get(tp) or 0), 0)
    return lags


def table_partition(
    table: faust.Table[bytes, bytes], partition: int
) -> MutableMapping[bytes, bytes]:
    """One partition of a raw-bytes table's store: its RocksDB, or the memory store's dict."""
    store = table.data
    if isinstance(store, RocksDBStore):
        return cast(MutableMapping[bytes, bytes], store._db_for_partition(partition))
    return cast(MutableMapping[bytes, bytes], cast(Any, store).data)


class SignalHooksWorker(faust.Worker):
    """faust's Worker with two hooks where mode has only private methods.

    ``before_stop`` runs on SIGTERM/SIGINT before faust's own stop; ``on_task_dump`` replaces
    mode's SIGUSR1 dump.
    """

    def __init__(
        self,
        app: faust.App,
        *,
        before_stop: Callable[[], Awaitable[None]],
        on_task_dump: Callable[[], None],
        **kw: Any,
    ) -> None:
        super().__init__(app, **kw)
        self._before_stop = before_stop
        self._on_task_dump = on_task_dump

    async def _stop_on_signal(self, sig: signal.Signals) -> None:
        await self._before_stop()
        await super()._stop_on_signal(sig)

    def _on_sigusr1(self) -> None:
        self._on_task_dump()
