"""The SIGUSR1 task dump: stacks only, secrets and URLs scrubbed, never an exception."""

from __future__ import annotations

import asyncio
import io

import mode

from streams.observability.task_dump import dump_tasks, sanitise
from streams.process import HashgateWorker

KEY = "subscription-key-7f3a9c"
SIGNED = "https://bucket.s3.amazonaws.com/a/b.png?X-Amz-Signature=deadbeefcafe0123"


class Unprintable:
    """Like aiohttp's half-built response: rendering it raises."""

    def __repr__(self) -> str:
        raise AttributeError("'NoneType' object has no attribute 'getall'")


async def holds_secrets(started: asyncio.Event) -> None:
    headers = {"ocp-apim-subscription-key": KEY}  # noqa: F841 - a local the dump must not show
    url = SIGNED  # noqa: F841
    response = Unprintable()  # noqa: F841
    started.set()
    await asyncio.sleep(3600)


async def test_the_dump_shows_tasks_and_stacks_but_no_value() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(holds_secrets(started), name="scan-call")
    await started.wait()
    out = io.StringIO()
    try:
        dump_tasks(out, [KEY])
    finally:
        task.cancel()
    text = out.getvalue()
    assert "TASK scan-call (holds_secrets, pending)" in text
    assert "await asyncio.sleep(3600)" in text  # where it waits, from the source line
    assert KEY not in text and "X-Amz-Signature" not in text and "getall" not in text
    assert text.startswith("hashgate task dump (kill -USR1)\n")
    assert text.endswith("end of task dump\n")


async def waits_for_room(room: asyncio.Event) -> None:
    await room.wait()


async def submits(room: asyncio.Event, started: asyncio.Event) -> None:
    started.set()
    await waits_for_room(room)


async def test_the_dump_follows_a_task_down_to_the_await_it_waits_on() -> None:
    started, room = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(submits(room, started), name="agent")
    await started.wait()
    out = io.StringIO()
    try:
        dump_tasks(out, [])
    finally:
        task.cancel()
    text = out.getvalue()
    agent = text[text.index("TASK agent") :]
    assert "await waits_for_room(room)" in agent and "await room.wait()" in agent
    assert agent.index("waits_for_room(room)") < agent.index("await room.wait()")  # outer first


def test_sanitise_scrubs_registered_secrets_and_every_url() -> None:
    text = sanitise(f"key={KEY} url={SIGNED} and 'http://10.0.0.5:8080/private/path'", [KEY])
    assert KEY not in text and "X-Amz-Signature" not in text and "/private/path" not in text
    assert "https://bucket.s3.amazonaws.com/… #" in text and "http://10.0.0.5:8080/… #" in text


def test_a_failing_dump_is_logged_not_raised() -> None:
    class Broken(io.StringIO):
        def write(self, _: str) -> int:
            raise OSError("stderr closed")

    dump_tasks(Broken(), [KEY])  # no exception: the process carries on


def test_the_worker_replaces_modes_sigusr1_handler() -> None:
    # mode installs SIGUSR1 -> Worker._on_sigusr1 (its dump prints locals); pin that we override
    # the method mode's signal set-up calls.
    assert "_on_sigusr1" in vars(mode.Worker)
    assert HashgateWorker._on_sigusr1 is not mode.Worker._on_sigusr1
    source = mode.Worker._install_signal_handlers_unix.__code__.co_names
    assert "_on_sigusr1" in source
