"""The duplicate cache: what it repeats, for how long, and that it never guesses."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta

from streams.photodna import MatchFlag, MatchResult
from streams.savers.cache import CachedAnswer, DuplicateCache, Lookup, digest_of
from tests.support import clear_result

ANSWERED = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
KEEP = 30 * DAY
DIGEST = digest_of(b"image")


class Clock:
    def __init__(self) -> None:
        self.now = ANSWERED

    def __call__(self) -> datetime:
        return self.now


def cache(store: MutableMapping[str, bytes] | None = None) -> tuple[DuplicateCache, Clock]:
    clock = Clock()
    store = {} if store is None else store
    return DuplicateCache(store, clear_max_age=DAY, max_age=KEEP, clock=clock), clock


def match_result() -> MatchResult:
    flag = MatchFlag(source="Test", violations=["A1"], match_id="104149", distance=3)
    return clear_result(is_match=True, flags=[flag], tracking_id="WUS_match")


def test_a_cached_match_answers_past_a_clears_age_with_the_call_it_reuses() -> None:
    dupes, clock = cache()
    dupes.remember(DIGEST, match_result())
    clock.now = ANSWERED + KEEP - timedelta(seconds=1)
    hit = dupes.lookup(DIGEST)
    assert hit is not None and hit.is_match and hit.flags[0].match_id == "104149"
    assert (hit.answered_by, hit.attempts, hit.status_code) == ("cache", 0, 3000)
    assert hit.reused_answer is not None
    assert (hit.reused_answer.tracking_id, hit.reused_answer.answered_at) == (
        "WUS_match",
        ANSWERED,
    )
    assert hit.tracking_id == "WUS_match"


def test_any_entry_past_the_keep_time_is_asked_again() -> None:
    # RocksDB drops expired entries only in its compactions: one still on disk is not used
    for answer in (match_result(), clear_result()):
        dupes, clock = cache()
        dupes.remember(DIGEST, answer)
        clock.now = ANSWERED + KEEP
        assert dupes.lookup(DIGEST) is None
        assert dupes.lookups == {Lookup.EXPIRED: 1}


def test_every_lookup_is_counted_by_how_it_ended() -> None:
    store: dict[str, bytes] = {}
    dupes, clock = cache(store)
    dupes.lookup(DIGEST)
    dupes.remember(DIGEST, clear_result())
    dupes.lookup(DIGEST)
    clock.now = ANSWERED + DAY
    dupes.lookup(DIGEST)
    dupes.remember(DIGEST, match_result())
    dupes.lookup(DIGEST)
    store[DIGEST] = b"{"
    dupes.lookup(DIGEST)
    assert dupes.lookups == {
        Lookup.MISS: 1,
        Lookup.CLEAR: 1,
        Lookup.STALE_CLEAR: 1,
        Lookup.MATCH: 1,
        Lookup.FAILED: 1,
    }
    assert dupes.entries() == 1


def test_a_cached_clear_answers_only_while_younger_than_its_age() -> None:
    dupes, clock = cache()
    dupes.remember(DIGEST, clear_result(tracking_id="WUS_clear"))
    clock.now = ANSWERED + DAY - timedelta(seconds=1)
    young = dupes.lookup(DIGEST)
    assert young is not None and not young.is_match and young.tracking_id == "WUS_clear"
    clock.now = ANSWERED + DAY
    assert dupes.lookup(DIGEST) is None


def test_only_first_hand_status_3000_answers_are_kept() -> None:
    store: dict[str, bytes] = {}
    dupes, _ = cache(store)
    dupes.remember(DIGEST, clear_result(status_code=3004))
    dupes.remember(DIGEST, clear_result(answered_by="cache"))
    assert store == {}
    assert dupes.lookup(DIGEST) is None


class BrokenStore(MutableMapping[str, bytes]):
    def __getitem__(self, key: str) -> bytes:
        raise RuntimeError("store is gone")

    def __setitem__(self, key: str, value: bytes) -> None:
        raise RuntimeError("store is gone")

    def __delitem__(self, key: str) -> None:
        raise RuntimeError("store is gone")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def test_a_failing_store_is_a_miss_and_a_lost_write_is_no_error() -> None:
    dupes, _ = cache(BrokenStore())
    dupes.remember(DIGEST, clear_result())
    assert dupes.lookup(DIGEST) is None
    assert (dupes.failed_writes, dupes.lookups) == (1, {Lookup.FAILED: 1})


def test_an_unreadable_entry_is_a_miss() -> None:
    answer = CachedAnswer.of(clear_result(tracking_id="WUS_1"), ANSWERED).encode()
    for garbage in (b"{", b"{}", answer.replace(b"+00:00", b""), answer.replace(b"WUS_1", b"")):
        dupes, _ = cache({DIGEST: garbage})
        assert dupes.lookup(DIGEST) is None, garbage
    dupes, _ = cache({DIGEST: answer})
    assert dupes.lookup(DIGEST) is not None


def test_an_entry_reads_back_as_it_was_written() -> None:
    flag = MatchFlag(source="Test", violations=["A1", "B2"], match_id=None, distance=None)
    answer = CachedAnswer(True, (flag,), "WUS_1", ANSWERED)
    assert CachedAnswer.decode(answer.encode()) == answer


def test_the_key_is_the_sha256_of_the_bytes() -> None:
    assert digest_of(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
