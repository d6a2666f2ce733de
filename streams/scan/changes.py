"""``--only-changed``: emit a rescan verdict only if it differs from the content's last verdict.

The last verdict of each content id is on the compacted ``verdicts_latest`` topic (the worker
writes every verdict it emits there too), which is the changelog of the worker's latest-verdict
table (streams/kafka/latest_table.py): a lookup reads the worker's own table partition on disk,
never the topic. ``LatestRecording`` puts each latest-verdict record into the table once Kafka
confirmed it.

When in doubt the verdict is emitted: a lookup that fails or times out (the table partition not
restored here, an unreadable record) means "changed". A duplicate verdict is harmless
(consumers de-duplicate on ``verdict_id``); a suppressed one would not be.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from streams.errors import ConfigurationError, EventDecodeError
from streams.events import Verdict, VerdictKind
from streams.kafka.confirmed import KAFKA_ERRORS, ConfirmedSender, Headers
from streams.kafka.latest_table import LatestVerdictTable, StateUnavailable
from streams.scan.scanner import Outcome, UnchangedOutcome, VerdictOutcome

log = logging.getLogger(__name__)

#: Longest a lookup may take before the verdict is emitted anyway.
LOOKUP_TIMEOUT_S = 30.0

Lookup = Callable[[str], Awaitable[str | None]]


#: A lookup that fails this way means "changed": the verdict is emitted.
LOOKUP_ERRORS: tuple[type[BaseException], ...] = (
    *KAFKA_ERRORS,
    ConfigurationError,
    StateUnavailable,
    EventDecodeError,
)


def verdict_digest(verdict: Verdict) -> str:
    """What "changed" compares: the verdict kind and the set of matches (source, id, classes)."""
    if verdict.verdict is VerdictKind.CLEAR:
        return "clear"
    matches = sorted(
        f"{m.source}\x1f{m.match_id or ''}\x1f{','.join(sorted(m.violations))}"
        for m in verdict.matches
    )
    return "match:" + hashlib.blake2b("\x1e".join(matches).encode(), digest_size=12).hexdigest()


class ChangeFilter:
    """Turns an only-changed rescan verdict equal to the last one into an UnchangedOutcome."""

    def __init__(self, lookup: Lookup, *, timeout_s: float = LOOKUP_TIMEOUT_S) -> None:
        self._lookup = lookup
        self._timeout_s = timeout_s

    async def screen(self, outcome: Outcome) -> Outcome:
        if not isinstance(outcome, VerdictOutcome) or not outcome.request.only_changed:
            return outcome
        verdict = outcome.verdict
        try:
            async with asyncio.timeout(self._timeout_s):
                last = await self._lookup(verdict.content_id)
        except LOOKUP_ERRORS as exc:
            log.warning(
                "last verdict unknown; emitting the rescan verdict",
                extra={"content_id": verdict.content_id, "error": repr(exc)},
            )
            return outcome
        if last is not None and last == verdict_digest(verdict):
            return UnchangedOutcome(verdict, outcome.request)
        return outcome


class LatestVerdicts:
    """Digests of the last verdict per content id, from the worker's latest-verdict table."""

    def __init__(self, table: LatestVerdictTable) -> None:
        self._table = table

    async def last(self, content_id: str) -> str | None:
        """The digest of the content's last verdict, or None if it never had one."""
        record = self._table.latest(content_id)
        return None if record is None else verdict_digest(Verdict.decode(record))


class LatestRecording:
    """A ConfirmedSender that puts each latest-verdict record it wrote into the table.

    Only once Kafka confirmed it: the table must never hold a verdict the topic does not.
    """

    def __init__(self, writer: ConfirmedSender, table: LatestVerdictTable) -> None:
        self._writer = writer
        self._table = table

    async def write(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        await (await self.send(topic, key, value, headers))

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers
    ) -> asyncio.Future[object]:
        if topic != self._table.topic or key is None:
            return await self._writer.send(topic, key, value, headers)
        partition = self._table.begin_write(key)
        try:
            pending = await self._writer.send(topic, key, value, headers)
        except BaseException:
            self._table.end_write(partition, key, None)
            raise
        pending.add_done_callback(partial(self._ended, partition, key, value))
        return pending

    def _ended(
        self, partition: int, key: bytes, value: bytes, pending: asyncio.Future[object]
    ) -> None:
        failed = pending.cancelled() or pending.exception() is not None
        self._table.end_write(partition, key, None if failed else value)
