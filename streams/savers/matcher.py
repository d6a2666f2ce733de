"""A Matcher that asks the local banks and the duplicate cache before spending PhotoDNA quota.

Order per image (bytes mode only; in url mode hashgate never holds the image, so every call goes
to PhotoDNA): banks, then the cache (live lane only: a rescan always asks PhotoDNA and refreshes
the cache), then PhotoDNA. Two identical images in flight at once: the second waits for the
first's call to end and then reads its cache entry, so one PhotoDNA call answers both. A
starting worker answers only once it has read the cache and bank topics to their ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from streams.events import BankMatch
from streams.photodna import Lane, MatchResult, MediaRef, PhotoDNAMatcher
from streams.photodna.models import ImageBytes
from streams.savers.bank_records import BankSettings
from streams.savers.cache import DuplicateCache, digest_of

log = logging.getLogger(__name__)


class Banks(Protocol):
    """What the matcher needs of the bank index (streams.savers.bank_index.BankIndex)."""

    def lookup(self, data: bytes) -> list[BankMatch]: ...

    def settings_of(self, bank: str) -> BankSettings: ...

    def entries_per_bank(self) -> dict[str, int]: ...

    def apply(self, key: bytes, value: bytes | None) -> None:
        """One record of the banks topic, as the worker reads it."""


class SavingMatcher:
    """Matcher over a PhotoDNAMatcher with an optional cache and optional banks."""

    def __init__(
        self,
        photodna: PhotoDNAMatcher,
        *,  # pragma: no mutate (callers pass these by name)
        cache: DuplicateCache | None,
        banks: Banks | None,
        loaded: Sequence[asyncio.Event] = (),
    ) -> None:
        self.photodna = photodna
        self.cache = cache
        self.banks = banks
        self._loaded = loaded
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    @property
    def enhance(self) -> bool:
        return self.photodna.enhance

    async def match(self, upload_media: MediaRef, *, lane: Lane = Lane.LIVE) -> MatchResult:
        image = await self.photodna.image_for(upload_media)
        if not isinstance(image, ImageBytes):
            return await self.photodna.match_image(image, lane=lane)
        for loaded in self._loaded:
            # a bank not read yet could let PhotoDNA clear an image the bank lists: wait
            await loaded.wait()
        bank_matches = await self._bank_matches(image.data)
        if bank_matches and not self._asks_photodna(bank_matches):
            return _bank_answer(bank_matches)
        result = await self._cached_or_called(image, lane)
        if bank_matches:
            return replace(
                result, answered_by=f"bank:{bank_matches[0].bank}", bank_matches=bank_matches
            )
        return result

    async def _bank_matches(self, data: bytes) -> tuple[BankMatch, ...]:
        if self.banks is None:
            return ()
        # PDQ hashing decodes the image: off the event loop
        return tuple(await asyncio.to_thread(self.banks.lookup, data))

    def _asks_photodna(self, matches: tuple[BankMatch, ...]) -> bool:
        assert self.banks is not None
        return any(self.banks.settings_of(m.bank).call_photodna for m in matches)

    async def _cached_or_called(self, image: ImageBytes, lane: Lane) -> MatchResult:
        if self.cache is None:
            return await self.photodna.match_image(image, lane=lane)
        digest = digest_of(image.data)
        if lane is Lane.LIVE:
            earlier = self._in_flight.get(digest)
            if earlier is not None:
                await asyncio.shield(earlier)  # its outcome lands in the cache, or nowhere
            cached = self.cache.lookup(digest)
            if cached is not None:
                return cached
        done = self._in_flight.setdefault(digest, asyncio.get_running_loop().create_future())
        try:
            result = await self.photodna.match_image(image, lane=lane)
            self.cache.remember(digest, result)
            return result
        finally:
            if self._in_flight.get(digest) is done:
                del self._in_flight[digest]
                done.set_result(None)

    async def aclose(self) -> None:
        await self.photodna.aclose()


def _bank_answer(matches: tuple[BankMatch, ...]) -> MatchResult:
    """A match from the banks alone: no PhotoDNA call, so no TrackingId and no Status."""
    return MatchResult(
        is_match=True,
        flags=[],
        tracking_id="",
        status_code=0,
        status_description=f"matched local bank {matches[0].bank!r}",
        attempts=0,
        api_seconds=0.0,
        answered_by=f"bank:{matches[0].bank}",
        bank_matches=matches,
    )
