"""The breaker's health probe: a benign image shipped with hashgate, which no event controls.

PhotoDNA's health must not be judged by events' own calls: one image that always gets Status
3004 would then count as an outage. The canary is a small synthetic test card (192x192 PNG, in
``data/canary.png``) sent as bytes; PhotoDNA is healthy when it answers Status 3000 with no
match. Its calls go through the rate limiter like any other, on the live lane.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources
from typing import Protocol

from streams.errors import ConfigurationError, PermanentError, TransientError
from streams.photodna.models import ImageBytes, ImageInput, MatchResult

logger = logging.getLogger(__name__)

#: Calls per probe: one failed call in a brown-out must not pause the worker.
CANARY_ATTEMPTS = 3


@cache
def canary_image() -> ImageBytes:
    data = resources.files("streams.photodna").joinpath("data/canary.png").read_bytes()
    return ImageBytes(data, "image/png")


class Prober(Protocol):
    async def probe(self, image: ImageInput, *, attempts: int) -> MatchResult: ...


class Canary:
    """``answers()`` is the breaker's probe (see streams/photodna/breaker.py)."""

    def __init__(self, client: Prober, image: ImageBytes | None = None) -> None:
        self._client = client
        self._image = image or canary_image()

    async def answers(self) -> bool:
        """True when PhotoDNA answered the canary with Status 3000 and no match."""
        try:
            result = await self._client.probe(self._image, attempts=CANARY_ATTEMPTS)
        except ConfigurationError:
            # The service answered (a refused key, say): health is not what is wrong. The
            # events' own calls meet the same error and stop the worker loudly.
            return True
        except TransientError as exc:
            logger.warning("PhotoDNA health probe failed: %s", exc)
            return False
        except PermanentError as exc:
            logger.error("PhotoDNA refused the canary image, counting it as down: %s", exc)
            return False
        if result.is_match:
            logger.error("PhotoDNA matched the benign canary image; counting it as down")
            return False
        return True
