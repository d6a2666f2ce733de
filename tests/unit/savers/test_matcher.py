"""The order of answers: banks, then the cache (live lane), then one PhotoDNA call per image."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from streams.errors import TransientError
from streams.events import BankMatch
from streams.photodna import Lane, MatchResult, MediaRef
from streams.photodna.models import ImageBytes, ImageInput, ImageUrl
from streams.savers.bank_records import BankSettings
from streams.savers.cache import DuplicateCache
from streams.savers.matcher import SavingMatcher
from tests.support import clear_result

PNG = ImageBytes(b"\x89PNG same bytes", "image/png")


class FakePhotoDNA:
    """Stands in for PhotoDNAMatcher: hands out ``image``; each call pops the next answer."""

    enhance = False

    def __init__(self, *answers: MatchResult | Exception, image: ImageInput = PNG) -> None:
        self.answers = list(answers)
        self.calls: list[Lane] = []
        self.image = image
        self.release = asyncio.Event()
        self.release.set()

    async def image_for(self, media: MediaRef) -> ImageInput:
        return self.image

    async def match_image(self, image: ImageInput, *, lane: Lane = Lane.LIVE) -> MatchResult:
        self.calls.append(lane)
        await self.release.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


class FakeBanks:
    def __init__(self, *matches: BankMatch, call_photodna: bool = False) -> None:
        self.matches = list(matches)
        self.call_photodna = call_photodna

    def lookup(self, data: bytes) -> list[BankMatch]:
        return self.matches

    def settings_of(self, bank: str) -> BankSettings:
        return BankSettings(name=bank, call_photodna=self.call_photodna)

    def apply(self, key: bytes, value: bytes | None) -> None:
        raise AssertionError("the tests set the matches directly")

    def entries_per_bank(self) -> dict[str, int]:
        return {}


def empty_cache() -> DuplicateCache:
    return DuplicateCache({}, clear_max_age=timedelta(hours=24), max_age=timedelta(days=30))


def saving(
    photodna: FakePhotoDNA, *, cached: bool = True, banks: FakeBanks | None = None
) -> SavingMatcher:
    cache = empty_cache() if cached else None
    return SavingMatcher(photodna, cache=cache, banks=banks)  # type: ignore[arg-type]


MEDIA = MediaRef("https://cdn.example.com/a.png")
OWN = BankMatch(bank="own", entry_id="e1", signal="sha256", report_to_ncmec=False)


async def test_a_duplicate_is_answered_by_the_cache() -> None:
    photodna = FakePhotoDNA(clear_result(tracking_id="WUS_1"))
    matcher = saving(photodna)
    first = await matcher.match(MEDIA)
    second = await matcher.match(MEDIA)
    assert (first.answered_by, second.answered_by) == ("photodna", "cache")
    assert second.reused_answer is not None and second.reused_answer.tracking_id == "WUS_1"
    assert photodna.calls == [Lane.LIVE]


async def test_a_rescan_always_asks_photodna_and_refreshes_the_cache() -> None:
    photodna = FakePhotoDNA(clear_result(tracking_id="WUS_1"), clear_result(tracking_id="WUS_2"))
    matcher = saving(photodna)
    await matcher.match(MEDIA)
    rescanned = await matcher.match(MEDIA, lane=Lane.RESCAN)
    assert rescanned.answered_by == "photodna" and photodna.calls == [Lane.LIVE, Lane.RESCAN]
    again = await matcher.match(MEDIA)
    assert again.reused_answer is not None and again.reused_answer.tracking_id == "WUS_2"


async def test_identical_images_in_flight_share_one_call() -> None:
    photodna = FakePhotoDNA(clear_result())
    photodna.release.clear()
    matcher = saving(photodna)
    both = asyncio.gather(matcher.match(MEDIA), matcher.match(MEDIA))
    for _ in range(5):
        await asyncio.sleep(0)
    photodna.release.set()
    first, second = await both
    assert photodna.calls == [Lane.LIVE]
    assert sorted([first.answered_by, second.answered_by]) == ["cache", "photodna"]


async def test_when_the_first_call_fails_the_waiting_twin_asks_photodna_itself() -> None:
    photodna = FakePhotoDNA(TransientError("timeout"), clear_result())
    photodna.release.clear()
    matcher = saving(photodna)
    both = asyncio.gather(matcher.match(MEDIA), matcher.match(MEDIA), return_exceptions=True)
    for _ in range(5):
        await asyncio.sleep(0)
    photodna.release.set()
    failed, answered = await both
    assert isinstance(failed, TransientError)
    assert isinstance(answered, MatchResult) and answered.answered_by == "photodna"
    assert photodna.calls == [Lane.LIVE, Lane.LIVE]


async def test_url_mode_skips_the_cache_and_the_banks() -> None:
    photodna = FakePhotoDNA(
        clear_result(), clear_result(), image=ImageUrl("https://cdn.example.com/a.png")
    )
    matcher = saving(photodna, banks=FakeBanks(OWN))
    assert [(await matcher.match(MEDIA)).answered_by for _ in range(2)] == ["photodna"] * 2
    assert len(photodna.calls) == 2


async def test_without_a_cache_every_image_asks_photodna() -> None:
    photodna = FakePhotoDNA(clear_result(), clear_result())
    matcher = saving(photodna, cached=False)
    await matcher.match(MEDIA)
    await matcher.match(MEDIA)
    assert len(photodna.calls) == 2


async def test_a_bank_match_answers_without_photodna_unless_the_bank_asks_for_it() -> None:
    photodna = FakePhotoDNA()
    answer = await saving(photodna, banks=FakeBanks(OWN)).match(MEDIA)
    assert photodna.calls == []
    assert (answer.is_match, answer.answered_by, answer.tracking_id) == (True, "bank:own", "")
    assert answer.bank_matches == (OWN,)


async def test_a_bank_that_asks_photodna_keeps_its_classification() -> None:
    photodna = FakePhotoDNA(clear_result(tracking_id="WUS_1"))
    answer = await saving(photodna, banks=FakeBanks(OWN, call_photodna=True)).match(MEDIA)
    assert photodna.calls == [Lane.LIVE]
    assert (answer.answered_by, answer.tracking_id, answer.bank_matches) == (
        "bank:own",
        "WUS_1",
        (OWN,),
    )


async def test_no_bank_match_goes_on_to_photodna() -> None:
    photodna = FakePhotoDNA(clear_result())
    answer = await saving(photodna, banks=FakeBanks()).match(MEDIA)
    assert answer.answered_by == "photodna" and answer.bank_matches == ()


@pytest.mark.parametrize("lane", [Lane.LIVE, Lane.RESCAN])
async def test_photodna_errors_pass_through(lane: Lane) -> None:
    matcher = saving(FakePhotoDNA(TransientError("timeout")))
    with pytest.raises(TransientError):
        await matcher.match(MEDIA, lane=lane)


async def test_nothing_is_answered_before_the_banks_and_the_cache_are_read() -> None:
    photodna = FakePhotoDNA(clear_result())
    loaded = asyncio.Event()
    cache = empty_cache()
    matcher = SavingMatcher(photodna, cache=cache, banks=None, loaded=[loaded])  # type: ignore[arg-type]
    answer = asyncio.ensure_future(matcher.match(MEDIA))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not answer.done() and photodna.calls == []
    loaded.set()
    assert (await answer).answered_by == "photodna"
