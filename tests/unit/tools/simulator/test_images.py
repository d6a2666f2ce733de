"""The simulator's image checks and PDQ matching: what passes, what is refused, what matches."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from hashgate_tools.simulator import HashDatabase, degrade, generate, packaged_db_path, png_bytes
from hashgate_tools.simulator.images import (
    HashCache,
    ImageFormat,
    ImageLimits,
    PdqHash,
    check_and_hash,
    sniff,
)
from hashgate_tools.simulator.protocol import Refusal, StatusCode

pytestmark = pytest.mark.unit

KNOWN = sorted((packaged_db_path().parent / "known").glob("*.png"))
THRESHOLD = 31


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _known_image(index: int = 0) -> Image.Image:
    with Image.open(KNOWN[index]) as image:
        return image.convert("RGB")


def _hash(data: bytes) -> PdqHash:
    outcome = check_and_hash(data, ImageLimits())
    assert isinstance(outcome, PdqHash), outcome
    return outcome


def _refusal(data: bytes, limits: ImageLimits | None = None) -> Refusal:
    outcome = check_and_hash(data, limits or ImageLimits())
    assert isinstance(outcome, Refusal), outcome
    return outcome


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", ImageFormat.JPEG),
        ("PNG", ImageFormat.PNG),
        ("GIF", ImageFormat.GIF),
        ("BMP", ImageFormat.BMP),
        ("TIFF", ImageFormat.TIFF),
    ],
)
def test_every_accepted_format_is_sniffed_and_hashed(fmt: str, expected: ImageFormat) -> None:
    data = _encode(_known_image(), fmt)
    assert sniff(data) is expected
    assert _hash(data).quality > 0


def test_big_endian_tiff_is_recognised() -> None:
    assert sniff(b"MM\x00*" + b"\x00" * 16) is ImageFormat.TIFF


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"RIFF\x00\x00WEBPVP8 "],
)
def test_non_images_are_refused_with_3206(data: bytes) -> None:
    assert _refusal(data).code is StatusCode.NOT_AN_IMAGE


def test_webp_is_not_a_format_the_service_takes() -> None:
    assert _refusal(_encode(_known_image(), "WEBP")).code is StatusCode.NOT_AN_IMAGE


def test_truncated_image_with_valid_magic_is_refused_with_3206() -> None:
    data = _encode(_known_image(), "PNG")
    assert _refusal(data[: len(data) // 3]).code is StatusCode.NOT_AN_IMAGE


@pytest.mark.parametrize("size", [(159, 400), (400, 159), (100, 100)])
def test_images_under_160_pixels_a_side_are_refused_with_3208(size: tuple[int, int]) -> None:
    data = _encode(_known_image().resize(size), "PNG")
    assert _refusal(data).code is StatusCode.IMAGE_SIZE_OUT_OF_RANGE


def test_exactly_160_by_160_is_accepted() -> None:
    _hash(_encode(_known_image().resize((160, 160)), "PNG"))


def test_images_over_the_byte_limit_are_refused_with_3208() -> None:
    data = _encode(_known_image(), "PNG")
    limits = ImageLimits(max_bytes=len(data) - 1)
    assert _refusal(data, limits).code is StatusCode.IMAGE_SIZE_OUT_OF_RANGE
    assert isinstance(check_and_hash(data, ImageLimits(max_bytes=len(data))), PdqHash)


def test_too_many_pixels_is_refused_before_decoding() -> None:
    data = _encode(_known_image(), "PNG")
    assert _refusal(data, ImageLimits(max_pixels=320 * 320 - 1)).code is (
        StatusCode.IMAGE_SIZE_OUT_OF_RANGE
    )


# -- matching -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged_db() -> HashDatabase:
    return HashDatabase.load(packaged_db_path())


@pytest.mark.parametrize("path", KNOWN, ids=lambda p: p.stem)
def test_known_image_matches_after_jpeg_q50_at_half_size(
    path: Path, packaged_db: HashDatabase
) -> None:
    with Image.open(path) as image:
        degraded = degrade(image, scale=0.5, jpeg_quality=50)
    hit = packaged_db.lookup(_hash(degraded), THRESHOLD)
    assert hit is not None
    entry, distance = hit
    assert entry.label == path.stem
    assert distance <= THRESHOLD


@pytest.mark.parametrize(
    "transform",
    [
        lambda im: _encode(im, "JPEG", quality=30),
        lambda im: _encode(im.resize((640, 640)), "PNG"),
        lambda im: _encode(im.convert("L"), "PNG"),
        lambda im: _encode(im.resize((300, 200)), "BMP"),
    ],
    ids=["jpeg-q30", "double-size", "greyscale", "aspect-changed-bmp"],
)
def test_everyday_edits_of_a_known_image_still_match(
    transform: Callable[[Image.Image], bytes], packaged_db: HashDatabase
) -> None:
    hit = packaged_db.lookup(_hash(transform(_known_image(2))), THRESHOLD)
    assert hit is not None and hit[0].label == KNOWN[2].stem


def test_unrelated_generated_images_do_not_match(packaged_db: HashDatabase) -> None:
    for sample in generate(seed=1, count=12):
        assert packaged_db.lookup(_hash(png_bytes(sample.image)), THRESHOLD) is None, sample.name


def test_known_images_are_far_apart(packaged_db: HashDatabase) -> None:
    hashes = [entry.hash for entry in packaged_db.entries]
    distances = [a.distance(b) for i, a in enumerate(hashes) for b in hashes[:i]]
    assert min(distances) > 2 * THRESHOLD


def test_a_flipped_image_is_a_different_image(packaged_db: HashDatabase) -> None:
    """PDQ is not flip-invariant; the service's matching is not either, so no false hit here."""
    flipped = _known_image(0).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert packaged_db.lookup(_hash(_encode(flipped, "PNG")), THRESHOLD) is None


def test_hex_round_trip() -> None:
    pdq = _hash(KNOWN[0].read_bytes())
    assert PdqHash.from_hex(pdq.hex).bits == pdq.bits
    assert len(pdq.hex) == 64


# -- the hash cache keeps outcomes, never bytes ---------------------------------------------


def _through(cache: HashCache, data: bytes) -> PdqHash | Refusal:
    digest, outcome = cache.lookup(data)
    if outcome is None:
        outcome = check_and_hash(data, ImageLimits())
        cache.store(digest, outcome)
    return outcome


def test_cache_returns_the_same_outcome_and_evicts_the_oldest() -> None:
    cache = HashCache(size=2)
    images = [png_bytes(s.image) for s in generate(seed=3, count=3)]
    first = _through(cache, images[0])
    assert cache.lookup(images[0])[1] == first
    _through(cache, images[1])
    _through(cache, images[2])
    assert len(cache) == 2
    assert cache.lookup(images[0])[1] is None
    assert cache.lookup(images[2])[1] is not None


def test_cache_of_size_zero_keeps_nothing() -> None:
    cache = HashCache(size=0)
    _through(cache, KNOWN[0].read_bytes())
    assert len(cache) == 0


def test_cache_remembers_refusals_too() -> None:
    cache = HashCache(size=4)
    refusal = _through(cache, b"not an image")
    assert cache.lookup(b"not an image")[1] == refusal
    assert len(cache) == 1


def test_cache_holds_no_image_bytes() -> None:
    cache = HashCache(size=8)
    _through(cache, KNOWN[0].read_bytes())
    for digest, outcome in cache._outcomes.items():
        assert len(digest) == 32  # a SHA-256, not the image
        assert isinstance(outcome, PdqHash | Refusal)
        fields = [getattr(outcome, name) for name in outcome.__slots__]
        assert not any(isinstance(value, bytes | bytearray) for value in fields)
