"""``kill -USR1``: what every thread and asyncio task waits on, safe to run in production.

mode's own dump (faust's default) prints every frame's local variables and every task's repr:
request headers with the subscription key, pre-signed image URLs, NCMEC passwords. Rendering
those objects can also raise (aiohttp's half-built responses do), which crashed the worker.
This dump prints stacks only (file, line, function, source line), never a value, then scrubs
the text for registered secrets and redacts every URL in it as a last line of defence; a
failure while dumping is logged and the process carries on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import FrameType
from typing import TextIO

from streams.observability.redact import redact_url

log = logging.getLogger(__name__)

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_REDACTED = "[redacted]"


def _stack(frames: Iterable[tuple[FrameType, int]]) -> list[str]:
    """Stack lines without locals: ``StackSummary`` never renders a value unless asked to."""
    summary = traceback.StackSummary.extract(frames, capture_locals=False, lookup_lines=True)
    return summary.format()


def _thread_frames(frame: FrameType | None) -> list[tuple[FrameType, int]]:
    frames = []
    while frame is not None:
        frames.append((frame, frame.f_lineno))
        frame = frame.f_back
    return frames[::-1]


#: Awaits followed down from a task's coroutine at most (a guard against a cycle).
MAX_AWAIT_DEPTH = 200


def _task_frames(task: asyncio.Task[object]) -> list[tuple[FrameType, int]]:
    """The task's coroutine and every coroutine it awaits, down to where it waits.

    ``Task.get_stack()`` gives only the outermost frame of a suspended task, which says
    "the agent is running" but not what it waits for.
    """
    frames: list[tuple[FrameType, int]] = []
    awaited: object = task.get_coro()
    while awaited is not None and len(frames) < MAX_AWAIT_DEPTH:
        if isinstance(awaited, asyncio.Task):  # awaiting another task: follow into it
            awaited = awaited.get_coro()
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if not isinstance(frame, FrameType):
            break
        frames.append((frame, frame.f_lineno))
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return frames


def _task_title(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", type(coro).__name__)
    state = "done" if task.done() else "pending"
    return f"TASK {task.get_name()} ({name}, {state})"


def render_dump(loop: asyncio.AbstractEventLoop | None) -> str:
    """Every thread's stack, then every task of ``loop``: names and code positions only."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    out: list[str] = []
    for ident, frame in sys._current_frames().items():
        out.append(f"THREAD {names.get(ident, ident)}\n")
        out.extend(_stack(_thread_frames(frame)))
    if loop is not None:
        tasks = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
        out.append(f"ASYNCIO TASKS ({len(tasks)})\n")
        for task in tasks:
            out.append(_task_title(task) + "\n")
            out.extend(_stack(_task_frames(task)))
    return "".join(out)


def sanitise(text: str, secrets: Iterable[str]) -> str:
    """Registered secrets replaced, every URL reduced to scheme, host and digest."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, _REDACTED)
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def dump_tasks(out: TextIO, secrets: Iterable[str]) -> None:
    """Write the dump to ``out``; never raises, so a stuck process stays up to be looked at."""
    try:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        text = sanitise(render_dump(loop), list(secrets))
        out.write("hashgate task dump (kill -USR1)\n" + text + "end of task dump\n")
        out.flush()
    except Exception:  # the dump is a diagnostic: it must never take the process down
        log.warning("the task dump failed; the process carries on", exc_info=True)
