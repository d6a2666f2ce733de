"""A windowed table's expiry schedule grows with its windows, not with its writes, and the
expiry still removes a window's keys (faust's clean-up, ``_del_old_keys``, run by hand)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import faust
import pytest

from streams.kafka.app import create_app
from streams.kafka.windowed_table import Table
from streams.settings import Settings, StateSettings, StateStore

pytestmark = pytest.mark.unit

DAY = timedelta(days=1).total_seconds()
LONG_AGO = 1_000 * DAY  # a day whose window expired long ago (day 1000 of 1970)


def windowed_table(tmp_path: Path) -> faust.Table:  # type: ignore[type-arg]
    state = StateSettings(dir=tmp_path, store=StateStore.MEMORY)
    app = create_app(Settings(state=state), "stats")
    table = app.Table("counts", default=int).tumbling(DAY, expires=timedelta(days=400))
    assert isinstance(table.table, Table)
    return table.table


def test_every_write_of_a_window_schedules_its_removal_once(tmp_path: Path) -> None:
    table = windowed_table(tmp_path)
    day_end = LONG_AGO + DAY - 0.1  # faust's window end
    for n in range(1_000):  # as the stats agent: the same few keys, counted again and again
        table._maybe_set_key_ttl((f"tenant-{n % 3}", (LONG_AGO, day_end)), partition=0)
        table._maybe_set_key_ttl(("tenant-0", (LONG_AGO + DAY, day_end + DAY)), partition=0)
        table._maybe_set_key_ttl(("tenant-0", (LONG_AGO, day_end)), partition=1)
    assert sorted(table._partition_timestamps[0]) == [day_end, day_end + DAY]
    assert table._partition_timestamps[1] == [day_end]
    assert len(table._partition_timestamp_keys[(0, day_end)]) == 3


async def test_an_expired_window_still_loses_all_its_keys(tmp_path: Path) -> None:
    table = windowed_table(tmp_path)
    day_end = LONG_AGO + DAY - 0.1
    keys = [(f"tenant-{n}", (LONG_AGO, day_end)) for n in range(3)]
    for key in keys * 10:
        table.data[key] = 1
        table._maybe_set_key_ttl(key, partition=0)
    await table._del_old_keys()
    assert not any(key in table.data for key in keys)
    assert table._partition_timestamps[0] == []
    assert (0, day_end) not in table._partition_timestamp_keys
