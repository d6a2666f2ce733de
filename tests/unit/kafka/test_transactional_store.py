"""Table changes under Kafka transactions: kept in memory until their transaction committed,
then on disk with the changelog offset in one batch; dropped with a revoked partition (on
RocksDB in a temporary folder, faust's hooks driven by hand)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.stores import memory as faust_memory
from faust.stores import rocksdb as faust_rocksdb
from faust.types import TP

from streams.kafka import transactional_store
from streams.kafka.app import create_app
from streams.kafka.rocksdb_memory import table_options
from streams.kafka.transactional_store import TransactionalStore, TransactionalTableManager
from streams.settings import Settings, StateSettings, StateStore

pytestmark = pytest.mark.unit
OPTIONS = table_options(StateSettings())


def app_on(state_dir: Path) -> faust.App:
    return create_app(Settings(state=StateSettings(dir=state_dir)), "moderation", exactly_once=True)


def store_of(app: faust.App) -> TransactionalStore:
    store = app.Table("seen", key_type=str, value_type=str, options=OPTIONS).data
    assert isinstance(store, TransactionalStore)
    return store


@pytest.fixture
def handling(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``handling(p)``: table calls from now on run as if a record of partition p were handled
    (None: outside any record)."""

    def during(partition: int | None) -> None:
        event = (
            None
            if partition is None
            else SimpleNamespace(message=SimpleNamespace(partition=partition))
        )
        for module in (transactional_store, faust_rocksdb):  # faust's own reads ask it too
            monkeypatch.setattr(module, "current_event", lambda: event)

    return during


def test_the_app_uses_the_transactional_store_and_manager_only_with_exactly_once(
    tmp_path: Path,
) -> None:
    assert isinstance(app_on(tmp_path).tables, TransactionalTableManager)
    plain = create_app(Settings(state=StateSettings(dir=tmp_path)), "moderation")
    assert not isinstance(plain.Table("seen", options=OPTIONS).data, TransactionalStore)


def test_the_memory_store_stays_the_memory_store_with_exactly_once(tmp_path: Path) -> None:
    state = StateSettings(dir=tmp_path, store=StateStore.MEMORY)
    app = create_app(Settings(state=state), "moderation", exactly_once=True)
    assert isinstance(app.Table("seen", options=OPTIONS).data, faust_memory.Store)


def test_a_change_is_read_back_at_once_but_reaches_the_disk_only_when_committed(
    tmp_path: Path, handling: Any
) -> None:
    store = store_of(app_on(tmp_path))
    handling(1)
    store._set(b"v1", b"when")
    store._set(b"gone", b"x")
    store._del(b"gone")
    assert store._get(b"v1") == b"when" and store._contains(b"v1")
    assert store._get(b"gone") is None and not store._contains(b"gone")
    assert store._db_for_partition(1).get(b"v1") is None  # a kill now leaves nothing on disk

    store.commit(1, changelog_offset=41)
    assert store._db_for_partition(1).get(b"v1") == b"when"
    assert store.persisted_offset(TP("any", 1)) == 41
    assert store.uncommitted == {}


def test_after_a_kill_only_committed_changes_are_on_disk(tmp_path: Path, handling: Any) -> None:
    store = store_of(app_on(tmp_path))
    handling(0)
    store._set(b"committed", b"1")
    store.commit(0, changelog_offset=7)
    store._set(b"aborted", b"1")  # its transaction dies with the process
    store._db_for_partition(0).close()

    reopened = store_of(app_on(tmp_path))
    handling(0)
    assert reopened._contains(b"committed")
    assert not reopened._contains(b"aborted")
    assert reopened.persisted_offset(TP("any", 0)) == 7


def test_a_revoked_partition_drops_its_uncommitted_changes(tmp_path: Path, handling: Any) -> None:
    app = app_on(tmp_path)
    table = app.Table("seen", key_type=str, value_type=str, options=OPTIONS)
    store = table.data
    assert isinstance(store, TransactionalStore)
    handling(2)
    store._set(b"k", b"v")
    store.revoke_partitions(table, {TP(table.changelog_topic.get_topic_name(), 2)})
    assert store.uncommitted == {}


def test_a_deletion_outside_a_record_goes_to_disk_at_once(tmp_path: Path, handling: Any) -> None:
    store = store_of(app_on(tmp_path))
    handling(3)
    store._set(b"old", b"1")
    store.commit(3, changelog_offset=None)
    handling(None)  # faust expiring an old window
    store._del(b"old")
    assert store._db_for_partition(3).get(b"old") is None


def test_a_commit_of_source_partitions_stores_the_same_changelog_partitions(
    tmp_path: Path, handling: Any
) -> None:
    """faust keeps the pending offsets by changelog partition but looks them up by source
    partition, so it never stored one; the manager maps them."""
    app = app_on(tmp_path)
    table = app.Table("seen", key_type=str, value_type=str, options=OPTIONS)
    store = table.data
    assert isinstance(store, TransactionalStore)
    changelog = table.changelog_topic.get_topic_name()
    handling(0)
    store._set(b"p0", b"1")
    handling(1)
    store._set(b"p1", b"1")
    app.tables.persist_offset_on_commit(store, TP(changelog, 0), 12)
    app.tables.persist_offset_on_commit(store, TP(changelog, 1), 30)

    app.tables.on_commit({TP("content.verdicts.match", 0): 100})

    assert store._db_for_partition(0).get(b"p0") == b"1"
    assert store.persisted_offset(TP(changelog, 0)) == 12
    assert store._db_for_partition(1).get(b"p1") is None  # its transaction is still open
    assert store.persisted_offset(TP(changelog, 1)) is None
    assert store.uncommitted == {1: {b"p1": b"1"}}
