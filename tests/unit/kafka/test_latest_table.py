"""The latest-verdict table: what a lookup answers, what is stored when, how far a checkpoint
says the table is up to date (on RocksDB in a temporary folder, faust's hooks driven by hand)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from faust.types import TP

from streams.kafka.app import create_app
from streams.kafka.latest_table import LatestVerdictTable, StateUnavailable
from streams.settings import Settings, StateSettings

pytestmark = pytest.mark.unit

PARTITIONS = 4


class Consumer:
    """faust's consumer as far as the checkpoint uses it: the partitions' end offsets."""

    def __init__(self) -> None:
        self.ends: dict[TP, int] = {}
        self.before_answer = lambda: None

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        self.before_answer()
        return {tp: self.ends[tp] for tp in partitions if tp in self.ends}


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[LatestVerdictTable]:
    settings = Settings(state=StateSettings(dir=tmp_path))
    app = create_app(settings)
    app.consumer = Consumer()
    yield LatestVerdictTable(app, settings)


def tp(table: LatestVerdictTable, key: bytes) -> TP:
    return TP(table.topic, table.partition_of(key))


async def restore(table: LatestVerdictTable, *tps: TP) -> None:
    """What faust calls once a rebalance assigned ``tps`` and their restore is done."""
    faust_table = table.faust_table
    await faust_table.on_rebalance(set(tps), set(), set(tps))
    assert table.restoring
    await faust_table.on_recovery_completed(set(tps), set())
    assert not table.restoring


def consumer(table: LatestVerdictTable) -> Consumer:
    app_consumer = table.faust_table.app.consumer
    assert isinstance(app_consumer, Consumer)
    return app_consumer


async def test_a_confirmed_write_is_what_a_lookup_answers(table: LatestVerdictTable) -> None:
    await restore(table, tp(table, b"c-1"))
    assert table.latest("c-1") is None

    partition = table.begin_write(b"c-1")
    table.end_write(partition, b"c-1", b"verdict-1")
    failed = table.begin_write(b"c-1")
    table.end_write(failed, b"c-1", None)  # Kafka never confirmed it

    assert table.latest("c-1") == b"verdict-1"


async def test_a_partition_not_restored_here_is_unavailable_not_empty(
    table: LatestVerdictTable,
) -> None:
    mine = tp(table, b"c-1")
    with pytest.raises(StateUnavailable):
        table.latest("c-1")  # before the first rebalance
    await restore(table, mine)
    await table.faust_table.on_rebalance(set(), {mine}, set())  # revoked
    with pytest.raises(StateUnavailable):
        table.latest("c-1")


async def test_a_checkpoint_records_the_end_offset_once_no_write_is_pending(
    table: LatestVerdictTable,
) -> None:
    mine = tp(table, b"c-1")
    await restore(table, mine)
    consumer(table).ends[mine] = 5
    pending = table.begin_write(b"c-1")

    await table.checkpoint()
    assert table.faust_table.data.persisted_offset(mine) is None

    table.end_write(pending, b"c-1", b"verdict")
    await table.checkpoint()
    assert table.faust_table.data.persisted_offset(mine) == 4  # the restore starts at 5


async def test_a_write_that_begins_while_the_end_offset_is_read_defers_the_checkpoint(
    table: LatestVerdictTable,
) -> None:
    mine = tp(table, b"c-1")
    await restore(table, mine)
    consumer(table).ends[mine] = 5
    racing: list[int] = []
    consumer(table).before_answer = lambda: racing.append(table.begin_write(b"c-1"))

    await table.checkpoint()

    assert table.faust_table.data.persisted_offset(mine) is None
    table.end_write(racing[0], b"c-1", b"verdict")
