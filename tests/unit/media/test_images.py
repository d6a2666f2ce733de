"""Format sniffing and PhotoDNA's size limits, decided before any quota is spent."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from streams.errors import MediaError, ReasonCode
from streams.media.images import (
    MIN_SIDE,
    ImageFormat,
    describe_unsupported,
    fit_to_limits,
    inspect_image,
    sniff_format,
)

pytestmark = pytest.mark.unit


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **options)
    return out.getvalue()


def solid(width: int, height: int, image_format: str = "PNG", mode: str = "RGB") -> bytes:
    return encode(Image.new(mode, (width, height), "teal"), image_format)


def noise(width: int, height: int, image_format: str = "PNG", mode: str = "RGB") -> bytes:
    """Incompressible pixels: the only way to get a big file from a modest image."""
    channels = len(mode)
    image = Image.frombytes(mode, (width, height), os.urandom(width * height * channels))
    return encode(image, image_format)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds almost no pixel data: a decompression bomb's shape."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("image_format", "expected"),
    [
        ("JPEG", ImageFormat.JPEG),
        ("PNG", ImageFormat.PNG),
        ("GIF", ImageFormat.GIF),
        ("BMP", ImageFormat.BMP),
        ("TIFF", ImageFormat.TIFF),
    ],
)
def test_sniffs_every_supported_format(image_format: str, expected: ImageFormat) -> None:
    assert sniff_format(solid(200, 200, image_format)) is expected


def test_sniffs_big_endian_tiff() -> None:
    assert sniff_format(b"MM\x00*" + b"\x00" * 20) is ImageFormat.TIFF


def test_content_types() -> None:
    assert [f.content_type for f in ImageFormat] == [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/bmp",
        "image/tiff",
    ]


@pytest.mark.parametrize(
    ("data", "described"),
    [
        (solid(200, 200, "WEBP"), "WebP"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "AVIF"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "MP4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81", "WebM"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "HTML"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"<svg width='200' height='200'></svg>", "SVG"),
        (b"%PDF-1.7\n", "PDF"),
        (b'{"error": "denied"}', "JSON"),
        (b"", "empty"),
    ],
)
def test_recognises_what_is_not_a_supported_image(data: bytes, described: str) -> None:
    assert sniff_format(data) is None
    assert described in describe_unsupported(data)
    with pytest.raises(MediaError, match=described) as caught:
        inspect_image(data)
    assert caught.value.reason is ReasonCode.NOT_AN_IMAGE


def test_inspect_reports_format_and_size_without_changing_bytes() -> None:
    data = solid(300, 200, "GIF")

    image = inspect_image(data)

    assert (image.format, image.width, image.height) == (ImageFormat.GIF, 300, 200)
    assert image.data == data
    assert "data" not in repr(image)


@pytest.mark.parametrize(("width", "height"), [(159, 400), (400, 159), (100, 100), (1, 1)])
def test_refuses_images_below_160_by_160(width: int, height: int) -> None:
    with pytest.raises(MediaError, match="below the 160x160 minimum") as caught:
        inspect_image(solid(width, height))
    assert caught.value.reason is ReasonCode.IMAGE_SIZE_OUT_OF_RANGE


def test_accepts_exactly_160_by_160() -> None:
    assert inspect_image(solid(MIN_SIDE, MIN_SIDE)).width == MIN_SIDE


def test_corrupt_header_of_a_known_format_is_not_an_image() -> None:
    with pytest.raises(MediaError) as caught:
        inspect_image(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert caught.value.reason is ReasonCode.NOT_AN_IMAGE


@pytest.mark.parametrize("pixels", [(20_000, 20_000), (100_000, 100_000)])
def test_decompression_bombs_are_refused_from_the_header(pixels: tuple[int, int]) -> None:
    bomb = png_header_only(*pixels)
    assert len(bomb) < 200

    with pytest.raises(MediaError) as caught:
        fit_to_limits(bomb)
    assert caught.value.reason is ReasonCode.IMAGE_SIZE_OUT_OF_RANGE


def test_own_pixel_guard_is_below_pillows() -> None:
    with pytest.raises(MediaError, match="more than 1000000 pixels"):
        inspect_image(png_header_only(2000, 2000), max_pixels=1_000_000)


def test_image_within_limits_is_returned_unchanged() -> None:
    data = solid(400, 300)

    fitted = fit_to_limits(data, max_bytes=len(data))

    assert fitted.data == data
    assert fitted.format is ImageFormat.PNG


def test_big_image_is_reencoded_as_jpeg_and_shrunk_to_fit() -> None:
    data = noise(600, 400)
    budget = 60_000
    assert len(data) > budget

    fitted = fit_to_limits(data, max_bytes=budget)

    assert len(fitted.data) <= budget
    assert fitted.format is ImageFormat.JPEG
    assert sniff_format(fitted.data) is ImageFormat.JPEG
    assert min(fitted.width, fitted.height) >= MIN_SIDE
    assert abs(fitted.width / fitted.height - 1.5) < 0.02  # aspect ratio kept
    with Image.open(io.BytesIO(fitted.data)) as reopened:
        assert reopened.size == (fitted.width, fitted.height)


def test_transparent_and_palette_images_shrink_too() -> None:
    rgba = noise(400, 400, "PNG", mode="RGBA")

    fitted = fit_to_limits(rgba, max_bytes=len(rgba) // 3)

    assert fitted.format is ImageFormat.JPEG
    assert len(fitted.data) <= len(rgba) // 3


def test_never_shrinks_below_160_and_refuses_what_cannot_fit() -> None:
    data = noise(800, 170)

    with pytest.raises(MediaError, match="cannot be brought under") as caught:
        fit_to_limits(data, max_bytes=2_000)
    assert caught.value.reason is ReasonCode.IMAGE_SIZE_OUT_OF_RANGE
