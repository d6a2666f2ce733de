"""``--only-changed``: emit a rescan verdict only if it differs from the content's last verdict.

The last verdict of each content id is on the compacted ``verdicts_latest`` topic (the worker
writes every verdict it emits there too). Before deciding, the worker reads the content's
partition of that topic up to its end offset *at that moment*, so whatever any worker emitted
before is seen; only a digest per content id is kept. Partitions are loaded on the first
only-changed request that needs them, so a worker that never sees one holds nothing.

When in doubt the verdict is emitted: a lookup that fails or times out (the broker, or the
topic gone) means "changed". A duplicate verdict is harmless (consumers de-duplicate on
``verdict_id``); a suppressed one would not be.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Awaitable, Callable

from streams.errors import ConfigurationError, EventDecodeError
from streams.events import Verdict, VerdictKind
from streams.kafka.confirmed import KAFKA_ERRORS
from streams.kafka.spans import CatchUpReader
from streams.scan.scanner import Outcome, UnchangedOutcome, VerdictOutcome
from streams.settings import Settings

log = logging.getLogger(__name__)

#: Longest a lookup may take before the verdict is emitted anyway.
LOOKUP_TIMEOUT_S = 30.0

Lookup = Callable[[str], Awaitable[str | None]]


#: A lookup that fails this way means "changed": the verdict is emitted.
LOOKUP_ERRORS: tuple[type[BaseException], ...] = (*KAFKA_ERRORS, ConfigurationError)


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
    """Digests of the last verdict per content id, read from the compacted topic on demand."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topics.verdicts_latest
        self._reader = CatchUpReader(settings, self._topic)
        self._digests: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._tickets = itertools.count()
        self._fresh_from: dict[int, int] = {}

    async def last(self, content_id: str) -> str | None:
        """The digest of the content's last verdict, or None if it never had one."""
        ticket = next(self._tickets)
        async with self._lock:
            partition = await self._reader.partition_of(content_id.encode())
            if self._fresh_from.get(partition, -1) <= ticket:  # no catch-up began after we asked
                mark = next(self._tickets)
                for record in await self._reader.catch_up(partition):
                    self._remember(record.key, record.value)
                self._fresh_from[partition] = mark
        return self._digests.get(content_id)

    def _remember(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        content_id = key.decode(errors="replace")
        if value is None:  # a tombstone: the content's history was deleted
            self._digests.pop(content_id, None)
            return
        try:
            self._digests[content_id] = verdict_digest(Verdict.decode(value))
        except EventDecodeError:
            log.warning("unreadable record on %s; ignored", self._topic)

    async def aclose(self) -> None:
        await self._reader.aclose()
