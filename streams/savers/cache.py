"""The exact-duplicate cache: SHA-256 of an image's bytes to PhotoDNA's last answer for it.

A cached ``match`` answers at once; a cached ``clear`` only while younger than its age limit,
because PhotoDNA's hash lists grow. Every entry is kept for a bounded time (``max_age``, the
cache topic's retention), then asked again. The cache only ever repeats a first-hand Status
3000 answer, and a failed lookup is a miss: it can spare a call, never invent or soften an
answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from streams.events import ReusedAnswer
from streams.photodna.models import MatchFlag, MatchResult

log = logging.getLogger(__name__)

OK_STATUS = 3000
ANSWERED_BY = "cache"


class Lookup(StrEnum):
    """How a lookup ended (the ``outcome`` label of ``hashgate_cache_lookups``)."""

    MATCH = "match"  # a cached match answered
    CLEAR = "clear"  # a cached clear younger than its age limit answered
    MISS = "miss"
    STALE_CLEAR = "stale_clear"  # a clear past its age limit: asked again
    EXPIRED = "expired"  # an entry past the cache's keep time, not yet dropped from disk
    FAILED = "failed"  # the store or the entry could not be read: asked again


class AnswerStore(Protocol):
    """What the cache needs of its store (streams.kafka.followed.FollowedTable, or a dict)."""

    def get(self, key: str) -> bytes | None: ...

    def __setitem__(self, key: str, value: bytes) -> None: ...

    def __len__(self) -> int: ...


def digest_of(data: bytes) -> str:
    """The cache key: hex SHA-256 of the image exactly as fetched."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)  # pragma: no mutate (nothing writes to it)
class CachedAnswer:
    """What the cache keeps of a first-hand answer: enough to repeat it and to trace it."""

    is_match: bool
    flags: tuple[MatchFlag, ...]
    tracking_id: str
    answered_at: datetime

    @classmethod
    def of(cls, result: MatchResult, answered_at: datetime) -> CachedAnswer:
        return cls(result.is_match, tuple(result.flags), result.tracking_id, answered_at)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "is_match": self.is_match,
                "flags": [
                    {
                        "source": f.source,
                        "violations": f.violations,
                        "match_id": f.match_id,
                        "distance": f.distance,
                    }
                    for f in self.flags
                ],
                "tracking_id": self.tracking_id,
                "answered_at": self.answered_at.isoformat(),
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> CachedAnswer:
        """Raises ValueError (or KeyError, TypeError) for anything but an encoded answer."""
        data = json.loads(raw)
        answered_at = datetime.fromisoformat(data["answered_at"])
        if answered_at.tzinfo is None:
            raise ValueError("answered_at has no time zone")
        flags = tuple(
            MatchFlag(f["source"], list(f["violations"]), f["match_id"], f["distance"])
            for f in data["flags"]
        )
        if not isinstance(data["is_match"], bool) or not data["tracking_id"]:
            raise ValueError("not a cached PhotoDNA answer")
        return cls(data["is_match"], flags, str(data["tracking_id"]), answered_at)

    def as_result(self) -> MatchResult:
        return MatchResult(
            is_match=self.is_match,
            flags=list(self.flags),
            tracking_id=self.tracking_id,
            status_code=OK_STATUS,
            status_description="repeated from the duplicate cache",
            attempts=0,
            api_seconds=0.0,
            answered_by=ANSWERED_BY,
            reused_answer=ReusedAnswer(tracking_id=self.tracking_id, answered_at=self.answered_at),
        )


class DuplicateCache:
    """Over a key-value store every worker sees (a followed topic in the worker)."""

    def __init__(
        self,
        store: AnswerStore,
        *,  # pragma: no mutate (callers pass these by name)
        clear_max_age: timedelta,
        max_age: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self.clear_max_age = clear_max_age
        self.max_age = max_age
        self._now = clock
        self.lookups: Counter[str] = Counter()  # by Lookup
        self.failed_writes = 0

    def entries(self) -> int:
        """Entries in this worker's copy (an estimate on disk)."""
        return len(self._store)

    def lookup(self, digest: str) -> MatchResult | None:
        """A repeatable answer, or None: a miss, a stale or expired entry, or a failed read."""
        outcome, result = self._look_up(digest)
        self.lookups[outcome] += 1
        return result

    def _look_up(self, digest: str) -> tuple[Lookup, MatchResult | None]:
        try:
            raw = self._store.get(digest)
            cached = None if raw is None else CachedAnswer.decode(raw)
        except Exception:  # any store or decoding failure means "call PhotoDNA", never a guess
            log.warning("duplicate cache lookup failed; asking PhotoDNA", exc_info=True)
            return Lookup.FAILED, None
        if cached is None:
            return Lookup.MISS, None
        age = self._now() - cached.answered_at
        if age >= self.max_age:
            return Lookup.EXPIRED, None
        if cached.is_match:
            return Lookup.MATCH, cached.as_result()
        if age >= self.clear_max_age:
            return Lookup.STALE_CLEAR, None  # PhotoDNA's lists grew since: ask again
        return Lookup.CLEAR, cached.as_result()

    def remember(self, digest: str, result: MatchResult) -> None:
        """Keeps a first-hand Status 3000 answer; anything else is not the cache's to keep."""
        if result.answered_by != "photodna" or result.status_code != OK_STATUS:
            return
        try:
            self._store[digest] = CachedAnswer.of(result, self._now()).encode()
        except Exception:  # the verdict stands without its cache entry; the next copy asks again
            self.failed_writes += 1
            log.warning("duplicate cache write failed", exc_info=True)
