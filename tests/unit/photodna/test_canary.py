"""The breaker's canary: a valid, benign, unknown image, and what its answers mean."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from hashgate_tools.harness.images import SIMULATOR_KEY
from hashgate_tools.simulator.config import SimulatorConfig
from hashgate_tools.simulator.database import HashDatabase
from hashgate_tools.simulator.images import ImageLimits, PdqHash, check_and_hash
from streams.errors import (
    AuthenticationError,
    HashgateError,
    ReasonCode,
    RejectedByPhotoDNA,
    TransientError,
)
from streams.photodna.canary import CANARY_ATTEMPTS, Canary, canary_image
from streams.photodna.models import ImageInput, MatchResult

pytestmark = pytest.mark.unit


def test_the_canary_is_a_small_png_photodna_accepts() -> None:
    image = canary_image()
    assert image.content_type == "image/png"
    assert len(image.data) < 4096
    with Image.open(io.BytesIO(image.data)) as decoded:
        assert decoded.format == "PNG"
        assert min(decoded.size) >= 160


def test_the_canary_is_unknown_to_the_simulators_database() -> None:
    config = SimulatorConfig(keys=(SIMULATOR_KEY,))  # type: ignore[arg-type]
    limits = ImageLimits(
        min_side=config.min_image_side,
        max_bytes=config.max_image_bytes,
        max_pixels=config.max_image_pixels,
    )
    pdq = check_and_hash(canary_image().data, limits)
    assert isinstance(pdq, PdqHash)
    assert HashDatabase.load(config.db_path).lookup(pdq, config.match_threshold) is None


class FakeClient:
    def __init__(self, answer: MatchResult | HashgateError) -> None:
        self.answer = answer
        self.sent: list[tuple[ImageInput, int]] = []

    async def probe(self, image: ImageInput, *, attempts: int) -> MatchResult:
        self.sent.append((image, attempts))
        if isinstance(self.answer, HashgateError):
            raise self.answer
        return self.answer


def answer(*, is_match: bool) -> MatchResult:
    return MatchResult(
        is_match=is_match,
        flags=[],
        tracking_id="WUS_t",
        status_code=3000,
        status_description="OK",
        attempts=1,
        api_seconds=0.01,
    )


@pytest.mark.parametrize(
    ("reply", "healthy", "logged"),
    [
        (answer(is_match=False), True, None),
        (
            answer(is_match=True),
            False,
            "PhotoDNA matched the benign canary image; counting it as down",
        ),
        (TransientError("HTTP 503"), False, "PhotoDNA health probe failed: HTTP 503"),
        (
            RejectedByPhotoDNA("3206", reason=ReasonCode.NOT_AN_IMAGE, status_code=3206),
            False,
            "PhotoDNA refused the canary image, counting it as down: 3206",
        ),
        (AuthenticationError("HTTP 401", status_code=401), True, None),
    ],
)
async def test_only_status_3000_without_match_or_a_config_error_counts_as_answering(
    reply: MatchResult | HashgateError,
    healthy: bool,
    logged: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = FakeClient(reply)
    with caplog.at_level(logging.INFO, logger="streams.photodna.canary"):
        assert await Canary(client).answers() is healthy
    assert client.sent == [(canary_image(), CANARY_ATTEMPTS)]
    # docs/operations.md quotes these lines: what the operator greps for in an outage
    assert caplog.messages == ([logged] if logged else [])
