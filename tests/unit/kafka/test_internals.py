"""Pins every private part of faust, mode and aiokafka hashgate uses (streams/kafka/internals.py).

An upgrade that renames or reshapes one of them fails here, by name, instead of as a worker
that silently stops draining, tracking topics or reporting lag. Also checks that nothing
outside the Kafka layer reaches for them, and that faust finds hashgate's transport driver.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import faust
import mode
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher
from faust.stores import rocksdb
from faust.tables import TableManager
from faust.tables.base import Collection as Table
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.kafka import internals
from streams.kafka.app import create_app
from streams.kafka.buffering import TopicWideBufferingConsumer
from streams.kafka.direct_delivery import DirectDeliveryConsumer
from streams.kafka.fetch_wait import SHORT_WAIT_MS
from streams.kafka.rocksdb_store import TRANSACTIONAL_SCHEME
from streams.kafka.seek_first import SeekFirstConsumer
from streams.kafka.table_manager import PromptTableManager
from streams.kafka.transactional_store import TransactionalStore
from streams.kafka.transactions import SourcePartitionTransactions
from streams.kafka.transport import SCHEME, Transport
from streams.kafka.transport import Consumer as HashgateConsumer
from streams.settings import Settings

pytestmark = pytest.mark.unit

STREAMS = Path(__file__).resolve().parents[3] / "streams"
PRIVATE = (
    "_ensure_producer",
    "_committed_offset",
    "_stop_on_signal",
    "_on_sigusr1",
    "_create_worker_consumer",
    "_fetch_max_wait_ms",
    "_get_actions_per_node",
    "_is_changelog_tp",
    "_new_consumer_thread",
    "_fetch_records",
    "_db_for_partition",
    "_transaction_producers",
    "_pending_persisted_offsets",
    "_key_index",
    "_maybe_set_key_ttl",
    "_partition_timestamp_keys",
    "_should_expire_keys",
    "_recovery",
    "_update_channels",
    "_set_recovery_ended",
    "_drain_messages",
    "_stopped",
    "_crashed",
)
#: faust's transport objects on an app: only the Kafka layer holds them (streams/kafka/app.py
#: offers what the rest needs: assigned(), partition_count(), flush_producer()).
TRANSPORT_OBJECTS = ("app.consumer", "app.producer", "app.transport", "transport.Consumer")


def test_faust_producer_still_hands_out_its_aiokafka_producer() -> None:
    ensure = faust_aiokafka.Producer._ensure_producer
    assert list(inspect.signature(ensure).parameters) == ["self"]
    assert "self.client" in inspect.getsource(AIOKafkaProducer.__init__)


def test_faust_consumer_still_keeps_committed_offsets_per_partition() -> None:
    assert "_committed_offset" in Consumer.__annotations__
    assert "self._committed_offset = " in inspect.getsource(Consumer.__init__)


def test_mode_still_stops_on_a_signal_through_stop_on_signal() -> None:
    stop = mode.Worker._stop_on_signal
    assert inspect.iscoroutinefunction(stop)
    assert list(inspect.signature(stop).parameters) == ["self", "signal"]
    assert "_stop_on_signal" in mode.Worker._schedule_shutdown.__code__.co_names


def test_mode_still_dumps_tasks_on_sigusr1_through_on_sigusr1() -> None:
    assert "_on_sigusr1" in vars(mode.Worker)
    assert "_on_sigusr1" in mode.Worker._install_signal_handlers_unix.__code__.co_names
    assert internals.SignalHooksWorker._on_sigusr1 is not mode.Worker._on_sigusr1


def test_aiokafka_still_hands_the_fetch_wait_to_its_fetcher_at_start() -> None:
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(
        AIOKafkaConsumer.__init__
    )
    assert "fetch_max_wait_ms=self._fetch_max_wait_ms" in inspect.getsource(AIOKafkaConsumer.start)


def test_faust_still_builds_its_worker_consumer_in_create_worker_consumer() -> None:
    create = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer
    assert list(inspect.signature(create).parameters) == ["self", "transport"]
    assert "_create_worker_consumer" in (
        faust_aiokafka.AIOKafkaConsumerThread._create_consumer.__code__.co_names
    )


async def test_the_worker_consumer_waits_briefly_until_its_fetcher_first_plans() -> None:
    app = create_app(Settings())  # inside the test's loop: the consumer binds to it
    thread = app.consumer._thread
    consumer = thread._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == SHORT_WAIT_MS < 1500
    await consumer.stop()
    thread.thread_loop.close()  # made for the consumer's thread, which never started


def test_aiokafka_still_plans_each_fetch_round_with_its_wait_and_partition_states() -> None:
    """What streams/kafka/fetch_wait.py and backlog.py rely on: each round of the fetch routine
    plans through ``self._get_actions_per_node(assignment)``, which reads the assignment only
    through ``tps`` and ``state_value``, leaves out a partition with buffered records, a paused
    one and one without a position, builds its fetch requests with ``self._fetch_max_wait_ms``
    and returns them first, as (broker, request) pairs whose ``topics`` hold (partition, offset,
    max bytes)."""
    plan = Fetcher._get_actions_per_node
    assert list(inspect.signature(plan).parameters) == ["self", "assignment"]
    assert "self._get_actions_per_node(assignment)" in inspect.getsource(
        Fetcher._fetch_requests_routine
    )
    source = inspect.getsource(plan)
    assert set(re.findall(r"assignment\.(\w+)", source)) == {"tps", "state_value"}
    for piece in (
        "for tp in assignment.tps:",
        "if tp in self._records:",
        "not tp_state.has_valid_position",
        "tp_state.paused",
        "self._fetch_max_wait_ms,",
        "(tp.partition, position, self._max_partition_fetch_bytes)",
        "list(by_topics.items()),",
        "fetch_requests.append((node_id, req))",
        "return (\n            fetch_requests,",
    ):
        assert piece in source, piece
    handled = inspect.getsource(Fetcher._proc_fetch_request)
    assert "for topic, partitions in request.topics:" in handled
    assert "for partition, offset, _ in partitions:" in handled
    assert "tp_state.highwater = highwater" in handled
    assert "self._records = collections.OrderedDict()" in inspect.getsource(Fetcher.__init__)


@pytest.mark.parametrize("step", [Recovery._resume_streams, Recovery.on_recovery_completed])
def test_faust_still_resumes_streams_then_seeks_then_clears_then_resumes_the_flow(
    step: object,
) -> None:
    """The order streams/kafka/seek_first.py holds stream partitions back across."""
    source = inspect.getsource(step)  # type: ignore[arg-type]
    order = ["resume_partitions(", "perform_seek()", "flow_control.resume()", "resume_flow()"]
    positions = [source.index(call) for call in order]
    assert positions == sorted(positions)
    assert "_is_changelog_tp(tp)" in source


def test_aiokafka_still_seeks_only_partitions_committed_above_zero() -> None:
    """The gap streams/kafka/seek_first.py closes: a partition never committed keeps its fetch
    position through faust's seek to the committed offsets."""
    source = inspect.getsource(AIOKafkaConsumer.seek_to_committed)
    assert "if offset and offset > 0:" in source
    assert "return committed_offsets" in source


def test_faust_still_builds_its_consumer_thread_in_new_consumer_thread() -> None:
    """Where the transport driver's consumer swaps in its own thread (kafka/transport.py)."""
    new_thread = faust_aiokafka.Consumer._new_consumer_thread
    assert list(inspect.signature(new_thread).parameters) == ["self"]
    assert "_new_consumer_thread" in ThreadDelegateConsumer.__init__.__code__.co_names


def test_faust_still_schedules_a_windows_removal_on_every_write() -> None:
    """What streams/kafka/windowed_table.py bounds: a push per write, popped with the keys."""
    set_ttl = faust.Table._maybe_set_key_ttl
    assert list(inspect.signature(set_ttl).parameters) == ["self", "key", "partition"]
    assert {"heappush", "_partition_timestamp_keys"} <= set(set_ttl.__code__.co_names)
    assert "_maybe_set_key_ttl" in faust.Table.on_key_set.__code__.co_names
    clean_up = inspect.getsource(faust.Table._del_old_keys)
    assert "heappop(timestamps)" in clean_up
    assert "self._partition_timestamp_keys.pop(" in clean_up


def test_faust_still_starts_its_table_manager_after_a_sleep_and_refuses_late_tables() -> None:
    """What streams/kafka/table_manager.py repeats without the sleep."""
    source = inspect.getsource(TableManager.on_start)
    steps = [
        "await self.sleep(1.0)",
        "await self._update_channels()",
        "await self.recovery.start()",
    ]
    positions = [source.index(step) for step in steps]
    assert positions == sorted(positions)
    assert "_tables_finalized.set()" in inspect.getsource(TableManager._update_channels)
    assert "Too late to add tables" in inspect.getsource(TableManager.add)
    app = create_app(Settings())
    assert isinstance(app.tables, PromptTableManager)


def test_faust_still_ends_a_recovery_as_the_marker_aware_one_does() -> None:
    """What streams/kafka/recovery.py repeats, and the fallback it shortens."""
    source = inspect.getsource(Recovery._slurp_changelogs.fun)
    end = ["self.flush_buffers()", "self._set_recovery_ended()", "self.signal_recovery_end.set()"]
    positions = [source.index(step) for step in end]
    assert positions == sorted(positions)
    assert "timeout=5.0" in source
    assert "timeout_count > 1" in source  # faust's fallback: two 5-second waits
    assert "self._recovery = Recovery(" in inspect.getsource(TableManager.__dict__["recovery"].fget)
    assert "_recovery" in TableManager.__annotations__


def test_faust_rocksdb_store_still_opens_one_partition_in_db_for_partition() -> None:
    """One partition of a table's store, which streams/kafka/latest_table.py writes directly."""
    db_for = rocksdb.Store._db_for_partition
    assert list(inspect.signature(db_for).parameters) == ["self", "partition"]
    assert "_db_for_partition" in rocksdb.Store._get.__code__.co_names


def test_faust_still_keeps_a_producer_per_transactional_id() -> None:
    assert "_transaction_producers" in faust_aiokafka.Producer.__annotations__
    source = inspect.getsource(faust_aiokafka.Producer.begin_transaction)
    assert "self._transaction_producers[transactional_id] = " in source


def test_faust_still_keeps_pending_changelog_offsets_by_changelog_partition() -> None:
    """The transactional table manager maps committed source partitions onto these."""
    assert "_pending_persisted_offsets" in TableManager.__annotations__
    source = inspect.getsource(TableManager.persist_offset_on_commit)
    assert "self._pending_persisted_offsets[tp] = (store, offset)" in source
    assert "res.topic_partition" in inspect.getsource(Table._on_changelog_sent)
    assert "self._key_index[key] = partition" in inspect.getsource(rocksdb.Store._set)


def test_aiokafka_still_reads_no_partitions_as_every_partition() -> None:
    """Why the consumer thread never asks for an empty set (streams/kafka/transport.py)."""
    assert "if partitions and tp not in partitions" in inspect.getsource(Fetcher.fetched_records)
    assert list(inspect.signature(faust_aiokafka.AIOKafkaConsumerThread.getmany).parameters) == [
        "self",
        "active_partitions",
        "timeout",
    ]


def test_faust_still_takes_a_polls_records_in_fetch_records_in_aiokafkas_fetch_order() -> None:
    """The consumer thread orders a poll there: backlog partitions moved behind the others."""
    fetch = faust_aiokafka.AIOKafkaConsumerThread._fetch_records
    assert list(inspect.signature(fetch).parameters) == [
        "self",
        "consumer",
        "active_partitions",
        "timeout",
        "max_records",
    ]
    assert "self._fetch_records" in inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread.getmany)
    assert "fetcher = consumer._fetcher" in inspect.getsource(fetch)
    assert "self._records = collections.OrderedDict()" in inspect.getsource(Fetcher.__init__)
    assert "for tp in list(self._records.keys()):" in inspect.getsource(Fetcher.fetched_records)


def test_faust_still_hands_each_record_over_through_modes_wait_first() -> None:
    drain = " ".join(inspect.getsource(Consumer._drain_messages).split())
    assert "await self.wait_first( callback(message), self.suspend_flow.wait() )" in drain
    assert list(inspect.signature(mode.Service.wait_first).parameters) == [
        "self",
        "coros",
        "timeout",
    ]
    wait_first = inspect.getsource(mode.Service.wait_first)
    assert "stopped = self._stopped" in wait_first and "crashed = self._crashed" in wait_first
    assert "self.suspend_flow = Event()" in inspect.getsource(Consumer.__init__)


def test_the_internals_module_lists_what_it_uses() -> None:
    doc = internals.__doc__ or ""
    for name in PRIVATE:
        assert name in doc


def test_nothing_outside_the_kafka_layer_touches_those_internals() -> None:
    found = [
        f"{path.relative_to(STREAMS)}: {name}"
        for path in STREAMS.rglob("*.py")
        if path.parent.name != "kafka"
        for name in (*PRIVATE, *TRANSPORT_OBJECTS)
        if re.search(rf"\b{re.escape(name)}\b", path.read_text("utf-8"))
    ]
    assert found == []


def test_faust_finds_hashgates_transport_by_its_url_scheme() -> None:
    assert faust.transport.by_url(f"{SCHEME}://127.0.0.1:9092") is Transport
    app = create_app(Settings())
    assert app.conf.broker[0].scheme == SCHEME
    assert app.transport.Consumer is HashgateConsumer
    assert issubclass(HashgateConsumer, TopicWideBufferingConsumer)
    assert issubclass(HashgateConsumer, SeekFirstConsumer)
    assert issubclass(HashgateConsumer, DirectDeliveryConsumer)
    assert app.transport.TransactionManager is SourcePartitionTransactions
    assert faust.stores.by_url(f"{TRANSACTIONAL_SCHEME}://") is TransactionalStore
