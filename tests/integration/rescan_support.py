"""Helpers of the rescan and DLQ-replay integration tests: settings, the CLI, waiting for a
rescan to finish, and reading one rescan's verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from hashgate_tools.harness.worker import TOPIC_SETTINGS, ScanTopics
from streams.events import Verdict
from streams.events.rescan import RescanOutcome
from streams.events.topics import (
    topic_name,
)
from streams.kafka.spans import partitions_of, plan_spans, read_spans, reader
from streams.rescan.status import RescanStatus, tracker
from streams.settings import KafkaSettings, Settings, TopicSettings


def env_for(bootstrap: str, topics: ScanTopics) -> dict[str, str]:
    """The environment of a ``hashgate`` command on the test's topics."""
    return {
        **os.environ,
        "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HASHGATE_TOPICS__PARTITIONS": "4",
        **topics.env(),
    }


def settings_for(bootstrap: str, topics: ScanTopics) -> Settings:
    """What the test's worker and commands use (the harness's topics, four partitions)."""
    names = {setting: topics.name(setting) for setting in TOPIC_SETTINGS}
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap, consumer_group=topics.group),
        topics=TopicSettings(**names, partitions=4),
    )


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


async def run_cli(env: dict[str, str], *args: str, within: float = 120) -> CliResult:
    """``hashgate <args>`` as a subprocess, without blocking the loop the simulator runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    communicating = asyncio.ensure_future(proc.communicate())
    try:
        async with asyncio.timeout(within):
            out, err = await asyncio.shield(communicating)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        out, err = await communicating  # what it printed before it was killed, for diagnosis
        raise AssertionError(
            f"hashgate {' '.join(args)} did not finish within {within}s\n"
            f"stdout: {out.decode(errors='replace')[-2000:]}\n"
            f"stderr: {err.decode(errors='replace')[-4000:]}"
        ) from None
    assert proc.returncode is not None
    return CliResult(proc.returncode, out.decode(), err.decode())


async def wait_status(
    settings: Settings,
    rescan_id: str,
    condition: Callable[[RescanStatus], bool] = lambda status: status.complete,
    *,
    within: float = 120,
) -> RescanStatus:
    """Polls the rescan's status until ``condition`` holds (default: every request is done)."""
    async with tracker(settings, rescan_id) as following:
        status = await following.refresh()
        try:
            async with asyncio.timeout(within):
                while not condition(status):
                    await asyncio.sleep(0.5)
                    status = await following.refresh()
        except TimeoutError:
            written = await outcomes_on_topic(settings, rescan_id)
            raise AssertionError(
                f"rescan status not reached within {within}s: {status}\n"
                f"the progress topic holds {len(written)} outcomes of {rescan_id}: {written}"
            ) from None
    return status


async def outcomes_on_topic(settings: Settings, rescan_id: str) -> list[tuple[int, int, str, str]]:
    """(partition, offset, event id, result) of every outcome of the rescan, read afresh."""
    topic = topic_name(settings.topics, "rescans_progress")
    found: list[tuple[int, int, str, str]] = []
    async with reader(settings) as consumer:
        spans = await plan_spans(consumer, topic, await partitions_of(settings, topic))
        async for batch in read_spans(consumer, spans):
            for record in batch:
                outcome = RescanOutcome.decode(record.value or b"")
                if outcome.rescan_id == rescan_id:
                    where = (record.partition, record.offset)
                    found.append((*where, outcome.event_id, outcome.result))
    return found


async def verdicts_of(settings: Settings, rescan_id: str | None) -> list[Verdict]:
    """Every verdict of one rescan (None: the live ones) written so far, from both topics."""
    found: list[Verdict] = []
    async with reader(settings) as consumer:
        for topic in (settings.topics.verdicts_match, settings.topics.verdicts_clear):
            spans = await plan_spans(consumer, topic, await partitions_of(settings, topic))
            async for batch in read_spans(consumer, spans):
                verdicts = (Verdict.decode(record.value) for record in batch)
                found += [v for v in verdicts if v.scan.rescan_id == rescan_id]
    return found


async def wait_verdicts(
    settings: Settings, rescan_id: str | None, count: int, *, within: float = 60
) -> list[Verdict]:
    """Polls until at least ``count`` verdicts of the rescan (None: live) are written."""
    found: list[Verdict] = []
    try:
        async with asyncio.timeout(within):
            while True:
                found = await verdicts_of(settings, rescan_id)
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"{len(found)} of {count} verdicts within {within}s") from None
