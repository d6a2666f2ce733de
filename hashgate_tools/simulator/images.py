"""Checking an image like the service does, and reducing it to a PDQ hash at once.

Bytes live only for the duration of one call; what is kept (the LRU cache) is keyed by the
SHA-256 of the bytes and holds a 256-bit hash or a refusal, never pixels.

The PDQ hash is taken of a fixed-size thumbnail rather than of the image as sent. PDQ on the raw
size flips ~20 bits when an image is halved; normalising first keeps the same image within a few
bits across re-encodes and resizes, and hashing 128x128 pixels costs about a millisecond.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pdqhash
from PIL import Image

from hashgate_tools.simulator.protocol import Refusal, StatusCode

HASH_SIDE = 128
PDQ_BITS = 256

#: Errors Pillow raises for bytes that look like an image but do not decode as one.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    BMP = "bmp"
    TIFF = "tiff"


_MAGIC: tuple[tuple[bytes, ImageFormat], ...] = (
    (b"\xff\xd8\xff", ImageFormat.JPEG),
    (b"\x89PNG\r\n\x1a\n", ImageFormat.PNG),
    (b"GIF87a", ImageFormat.GIF),
    (b"GIF89a", ImageFormat.GIF),
    (b"BM", ImageFormat.BMP),
    (b"II*\x00", ImageFormat.TIFF),
    (b"MM\x00*", ImageFormat.TIFF),
)


def sniff(data: bytes) -> ImageFormat | None:
    """The format the leading bytes announce; the Content-Type a caller claims is not trusted."""
    for magic, image_format in _MAGIC:
        if data.startswith(magic):
            return image_format
    return None


@dataclass(frozen=True, slots=True)
class ImageLimits:
    min_side: int = 160
    max_bytes: int = 4 * 1024 * 1024
    max_pixels: int = 64_000_000


@dataclass(frozen=True, slots=True)
class PdqHash:
    bits: int
    quality: int

    @property
    def hex(self) -> str:
        return format(self.bits, f"0{PDQ_BITS // 4}x")

    @classmethod
    def from_hex(cls, text: str, quality: int = 100) -> PdqHash:
        if len(text) != PDQ_BITS // 4:
            raise ValueError(f"a PDQ hash is {PDQ_BITS // 4} hex digits")
        return cls(int(text, 16), quality)

    def distance(self, other: PdqHash) -> int:
        return (self.bits ^ other.bits).bit_count()


def pdq_of_pixels(image: Image.Image) -> PdqHash:
    thumbnail = image.convert("RGB").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BILINEAR)
    bits, quality = pdqhash.compute(np.asarray(thumbnail))
    packed = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    return PdqHash(int.from_bytes(packed, "big"), int(quality))


def check_and_hash(data: bytes, limits: ImageLimits) -> PdqHash | Refusal:
    """Validate in the service's order (size, format, dimensions), then hash."""
    if len(data) > limits.max_bytes:
        return Refusal(
            StatusCode.IMAGE_SIZE_OUT_OF_RANGE,
            f"image is {len(data)} bytes; at most {limits.max_bytes}",
        )
    if sniff(data) is None:
        return Refusal(StatusCode.NOT_AN_IMAGE, "not a GIF, JPEG, PNG, BMP or TIFF image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if min(width, height) < limits.min_side or width * height > limits.max_pixels:
                return Refusal(
                    StatusCode.IMAGE_SIZE_OUT_OF_RANGE,
                    f"image is {width}x{height}; at least {limits.min_side}x{limits.min_side}",
                )
            image.draft("RGB", (2 * HASH_SIDE, 2 * HASH_SIDE))  # JPEG: decode at reduced scale
            return pdq_of_pixels(image)
    except _DECODE_ERRORS:
        return Refusal(StatusCode.NOT_AN_IMAGE, "the image data could not be decoded")


class HashCache:
    """LRU of outcomes by SHA-256 of the bytes, so a repeated image costs one digest.

    Lookup and store are separate so the hashing in between can run off the event loop.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._outcomes: OrderedDict[bytes, PdqHash | Refusal] = OrderedDict()

    def __len__(self) -> int:
        return len(self._outcomes)

    def lookup(self, data: bytes) -> tuple[bytes, PdqHash | Refusal | None]:
        digest = hashlib.sha256(data).digest()
        outcome = self._outcomes.get(digest)
        if outcome is not None:
            self._outcomes.move_to_end(digest)
        return digest, outcome

    def store(self, digest: bytes, outcome: PdqHash | Refusal) -> None:
        if self._size == 0:
            return
        self._outcomes[digest] = outcome
        self._outcomes.move_to_end(digest)
        while len(self._outcomes) > self._size:
            self._outcomes.popitem(last=False)
