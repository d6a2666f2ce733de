"""What PhotoDNA accepts, decided locally before any quota is spent.

PhotoDNA takes GIF, JPEG, PNG, BMP and TIFF of at least 160 x 160 pixels and at most 4 MB. The
format is read from the bytes themselves: a URL's extension and a server's Content-Type are
claims, and an HTML error page served as ``image/jpeg`` must not reach PhotoDNA as an image.
Pillow opens only the sniffed format, and a pixel-count guard runs before anything is decoded,
so a small file that claims huge dimensions (a decompression bomb) is refused cheaply.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass, field
from enum import StrEnum

from PIL import Image

from streams.errors import MediaError, ReasonCode

MIN_SIDE = 160
MAX_IMAGE_BYTES = 4 * 1024 * 1024
#: More pixels than any real upload has; above it, decoding costs more memory than it is worth.
MAX_PIXELS = 50_000_000
#: JPEG cannot encode a side longer than this.
_JPEG_MAX_SIDE = 65_500
_JPEG_QUALITY = 85
_SHRINK_SAFETY = 0.9

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


class ImageFormat(StrEnum):
    """The formats PhotoDNA accepts; the value is Pillow's name for it."""

    JPEG = "JPEG"
    PNG = "PNG"
    GIF = "GIF"
    BMP = "BMP"
    TIFF = "TIFF"

    @property
    def content_type(self) -> str:
        return f"image/{self.value.lower()}"


_SUPPORTED_SIGNATURES: tuple[tuple[bytes, ImageFormat], ...] = (
    (b"\xff\xd8\xff", ImageFormat.JPEG),
    (b"\x89PNG\r\n\x1a\n", ImageFormat.PNG),
    (b"GIF87a", ImageFormat.GIF),
    (b"GIF89a", ImageFormat.GIF),
    (b"BM", ImageFormat.BMP),
    (b"II*\x00", ImageFormat.TIFF),
    (b"MM\x00*", ImageFormat.TIFF),
)

_UNSUPPORTED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x1a\x45\xdf\xa3", "a WebM/Matroska video"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"8BPS", "a Photoshop document"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 audio file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"FLV", "a Flash video"),
)

#: ISO-BMFF brands (bytes 8..12 after "ftyp"): still images PhotoDNA refuses, else video.
_STILL_BRANDS = {
    b"heic": "a HEIC image",
    b"heix": "a HEIC image",
    b"heim": "a HEIC image",
    b"heis": "a HEIC image",
    b"hevc": "a HEIC image sequence",
    b"mif1": "a HEIF image",
    b"msf1": "a HEIF image sequence",
    b"avif": "an AVIF image",
    b"avis": "an AVIF image sequence",
}


def sniff_format(data: bytes) -> ImageFormat | None:
    """The PhotoDNA-supported format the bytes start with, or None."""
    for signature, image_format in _SUPPORTED_SIGNATURES:
        if data.startswith(signature):
            return image_format
    return None


def describe_unsupported(data: bytes) -> str:
    """What the bytes look like, for an error message about a refused download."""
    for signature, name in _UNSUPPORTED_SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "an AVI video"
    if data[4:8] == b"ftyp":
        return _STILL_BRANDS.get(data[8:12], "an MP4/QuickTime video")
    text = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page"
    if b"<svg" in text:
        return "an SVG drawing"
    if text.startswith(b"<?xml"):
        return "an XML document"
    if text.startswith((b"{", b"[")):
        return "JSON or other text"
    if not data:
        return "empty"
    return "not a recognised image format"


@dataclass(frozen=True)
class PreparedImage:
    """An image PhotoDNA will accept: a supported format, big enough, small enough."""

    data: bytes = field(repr=False)
    format: ImageFormat
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return self.format.content_type


def _not_an_image(data: bytes) -> MediaError:
    return MediaError(
        f"not an image PhotoDNA accepts: {describe_unsupported(data)}",
        reason=ReasonCode.NOT_AN_IMAGE,
    )


def _size_error(message: str) -> MediaError:
    return MediaError(message, reason=ReasonCode.IMAGE_SIZE_OUT_OF_RANGE)


def _open(data: bytes, image_format: ImageFormat, max_pixels: int) -> Image.Image:
    """Open lazily (header only); too many pixels is refused before any decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[image_format.value])
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _size_error("image dimensions are beyond the decompression-bomb guard") from None
    except _DECODE_ERRORS as exc:
        raise MediaError(
            f"{image_format.value} header could not be read: {exc}",
            reason=ReasonCode.NOT_AN_IMAGE,
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise _size_error(f"image is {width}x{height}, more than {max_pixels} pixels")
    return image


def inspect_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> PreparedImage:
    """Format and dimensions, without decoding the pixels; refuses what PhotoDNA would."""
    image_format = sniff_format(data)
    if image_format is None:
        raise _not_an_image(data)
    with _open(data, image_format, max_pixels) as image:
        width, height = image.size
    if width < MIN_SIDE or height < MIN_SIDE:
        raise _size_error(f"image is {width}x{height}, below the {MIN_SIDE}x{MIN_SIDE} minimum")
    return PreparedImage(data=data, format=image_format, width=width, height=height)


def fit_to_limits(
    data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_PIXELS
) -> PreparedImage:
    """The image as is when it fits, else re-encoded as JPEG and scaled down until it does.

    Scaling never takes the shorter side below 160 pixels; an image that still does not fit is
    refused as IMAGE_SIZE_OUT_OF_RANGE. Only the first frame of an animation is kept.
    """
    inspected = inspect_image(data, max_pixels=max_pixels)
    if len(data) <= max_bytes:
        return inspected
    try:
        with _open(data, inspected.format, max_pixels) as image:
            pixels = _flatten(image)
    except _DECODE_ERRORS as exc:
        raise MediaError(
            f"{inspected.format.value} image could not be decoded: {exc}",
            reason=ReasonCode.NOT_AN_IMAGE,
        ) from None
    return _shrink(pixels, max_bytes=max_bytes, original_bytes=len(data))


def _flatten(image: Image.Image) -> Image.Image:
    """RGB pixels of the first frame; transparency is laid on white, as a viewer shows it."""
    image.seek(0)
    image.load()
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _encode_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    try:
        image.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    except (OSError, ValueError) as exc:
        raise _size_error(f"image of {image.size} cannot be re-encoded as JPEG: {exc}") from None
    return out.getvalue()


def _scaled_size(size: tuple[int, int], factor: float) -> tuple[int, int]:
    """``size`` times ``factor``, but never a shorter side below MIN_SIDE."""
    width, height = size
    factor = max(factor, MIN_SIDE / min(width, height))
    return max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))


def _shrink(pixels: Image.Image, *, max_bytes: int, original_bytes: int) -> PreparedImage:
    """Each round aims at the byte budget by area and keeps a margin, so few rounds are needed."""
    size = pixels.size
    if max(size) > _JPEG_MAX_SIDE:
        size = _scaled_size(size, _JPEG_MAX_SIDE / max(size))
    current = pixels if size == pixels.size else pixels.resize(size, Image.Resampling.LANCZOS)
    while True:
        encoded = _encode_jpeg(current)
        if len(encoded) <= max_bytes:
            width, height = current.size
            return PreparedImage(data=encoded, format=ImageFormat.JPEG, width=width, height=height)
        if min(current.size) <= MIN_SIDE:
            raise _size_error(
                f"image of {original_bytes} bytes cannot be brought under {max_bytes} bytes "
                f"at {MIN_SIDE} pixels or more per side"
            )
        factor = min(_SHRINK_SAFETY, math.sqrt(max_bytes / len(encoded)) * _SHRINK_SAFETY)
        current = pixels.resize(_scaled_size(current.size, factor), Image.Resampling.LANCZOS)
