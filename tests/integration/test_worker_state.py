"""The worker's latest-verdict table survives a restart (only-changed works from its own disk)
and a kill -9 (it reads back from the topic what its disk lost)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hashgate_tools.harness.host import free_port
from hashgate_tools.harness.kafka import Record, produce, wait_committed
from hashgate_tools.harness.worker import ScanSetup, read_outcomes, records_of, upload
from streams.events import VerdictKind
from streams.events.rescan import Result
from streams.rescan.selection import Selection
from streams.rescan.start import RescanPlan, start_rescan
from tests.integration.rescan_support import settings_for, verdicts_of, wait_status
from tests.support import make_verdict

pytest_plugins = ["tests.fixtures.simulator", "tests.integration.scan_fixtures"]
pytestmark = pytest.mark.integration

REPLAYED = "hashgate_state_replayed_records"


async def test_only_changed_after_a_restart_reads_the_table_from_disk_not_the_topic(
    scan: ScanSetup, tmp_path: Path
) -> None:
    images = scan.images.images
    pictures = [images.unknown[0], images.unknown[1], images.known[0]]
    events = [upload(n, scan.images.url(name)) for n, name in enumerate(pictures)]
    # A verdict an earlier worker left on the topic: the first start restores it from there.
    earlier = make_verdict(99, content_id="scanned-by-an-earlier-worker")
    history = Record(earlier.content_id.encode(), earlier.encode())
    await produce(scan.bootstrap, scan.topics.name("verdicts_latest"), [history])
    same_instance = {
        "HASHGATE_STATE__DIR": str(tmp_path / "state"),
        "HASHGATE_WEB__PORT": str(free_port()),
    }

    first = scan.start_worker(**same_instance)
    await first.wait_ready()
    assert await first.metric(REPLAYED) == 1
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    await read_outcomes(scan.bootstrap, scan.topics, until_events={e.event_id for e in events})
    first.signal(signal.SIGTERM)
    assert await first.wait_exit() == 0

    second = scan.start_worker(**same_instance)
    await second.wait_ready()
    assert await second.metric(REPLAYED) == 0  # nothing read back from the topic
    await only_the_changed_content_is_emitted(scan, unchanged=2)


async def test_after_a_kill_9_the_table_reads_back_what_its_disk_lost(
    scan: ScanSetup, tmp_path: Path
) -> None:
    """The latest-verdict table writes without RocksDB's log (streams/kafka/rocksdb_store.py):
    a kill loses what it held in memory, and the restart reads that back from the topic."""
    images = scan.images.images
    events = [upload(n, scan.images.url(name)) for n, name in enumerate(images.unknown[:2])]
    same_instance = {
        "HASHGATE_STATE__DIR": str(tmp_path / "state"),
        "HASHGATE_WEB__PORT": str(free_port()),
        # checkpoints (the table's offsets, in memory too) between the writes and the kill
        "HASHGATE_STATE__CHECKPOINT_INTERVAL_S": "0.2",
    }
    first = scan.start_worker(**same_instance)
    await first.wait_ready()
    await produce(scan.bootstrap, scan.topics.name("uploads"), records_of(events))
    # committed: their latest-verdict writes are confirmed and in the table, and the restart
    # does not scan them again
    await wait_committed(
        scan.bootstrap,
        scan.topics.group,
        scan.topics.name("uploads"),
        lambda committed: sum(committed.values()) >= len(events),
        what=f"{len(events)} uploads committed",
    )
    first.signal(signal.SIGKILL)
    assert await first.wait_exit() == -signal.SIGKILL

    second = scan.start_worker(**same_instance)
    await second.wait_ready()
    await only_the_changed_content_is_emitted(scan, unchanged=1)


async def only_the_changed_content_is_emitted(scan: ScanSetup, *, unchanged: int) -> None:
    """After content-000000's image joins the database, an only-changed rescan of everything
    emits its match alone and counts the rest, all in the worker's table, as unchanged."""
    images = scan.images.images
    await scan.admin.add_to_db(images.read(images.unknown[0]), match_id="after-restart")
    settings = settings_for(scan.bootstrap, scan.topics)
    await start_rescan(settings, RescanPlan("rs-restart", Selection(), only_changed=True))
    status = await wait_status(settings, "rs-restart")

    emitted = await verdicts_of(settings, "rs-restart")
    assert [(v.content_id, v.verdict) for v in emitted] == [("content-000000", VerdictKind.MATCH)]
    assert (status.results[Result.MATCH], status.results[Result.UNCHANGED]) == (1, unchanged)
