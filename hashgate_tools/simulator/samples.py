"""Deterministic benign test images: gradients with shapes, drawn with Pillow.

Seed 0 makes the images whose hashes ship as the "known" database; any other seed makes images
that are not in it. A candidate is kept only if its hash survives a JPEG quality 50 re-encode at
half size with few flipped bits and it is far from the images already made, so matching tests
have a wide margin on both sides of the threshold.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from hashgate_tools.simulator.images import PdqHash, pdq_of_pixels

KNOWN_SEED = 0
DEFAULT_COUNT = 6
DEFAULT_SIDE = 320

#: A kept image's hash moves at most this many bits under the robustness check.
MAX_SELF_DISTANCE = 12
#: Kept images are at least this many bits apart from each other.
MIN_MUTUAL_DISTANCE = 64
MIN_QUALITY = 50
_MAX_ATTEMPTS = 200

Color = tuple[int, int, int]
Drawer = Callable[[random.Random, int], Image.Image]


def _color(rng: random.Random) -> Color:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _gradient(rng: random.Random, side: int) -> Image.Image:
    angle = rng.uniform(0.0, 2.0 * math.pi)
    y, x = np.mgrid[0:side, 0:side] / side
    ramp = math.cos(angle) * x + math.sin(angle) * y
    ramp = ((ramp - ramp.min()) / (ramp.max() - ramp.min()))[..., None]
    start, end = np.array(_color(rng)), np.array(_color(rng))
    return Image.fromarray((start * (1 - ramp) + end * ramp).astype(np.uint8), "RGB")


def _point(rng: random.Random, side: int) -> tuple[int, int]:
    return rng.randrange(side), rng.randrange(side)


def _blobs(rng: random.Random, side: int) -> Image.Image:
    image = _gradient(rng, side)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(5, 9)):
        (x, y), rx, ry = _point(rng, side), rng.randint(30, 110), rng.randint(15, 75)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=_color(rng))
    return image


def _rectangles(rng: random.Random, side: int) -> Image.Image:
    image = _gradient(rng, side)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(6, 12)):
        x, y = _point(rng, side)
        draw.rectangle([x, y, x + rng.randint(30, 150), y + rng.randint(30, 150)], fill=_color(rng))
    return image


def _triangles(rng: random.Random, side: int) -> Image.Image:
    image = _gradient(rng, side)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(4, 8)):
        draw.polygon([_point(rng, side) for _ in range(3)], fill=_color(rng))
    return image


def _target(rng: random.Random, side: int) -> Image.Image:
    image = _gradient(rng, side)
    draw = ImageDraw.Draw(image)
    cx, cy = rng.randrange(side // 5, 4 * side // 5), rng.randrange(side // 5, 4 * side // 5)
    for radius in sorted(rng.sample(range(side // 10, 4 * side // 5, 10), 4), reverse=True):
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=_color(rng))
    return image


def _bars(rng: random.Random, side: int) -> Image.Image:
    image = _gradient(rng, side)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 6)):
        ends = [_point(rng, side), _point(rng, side)]
        draw.line(ends, fill=_color(rng), width=rng.randint(18, 45))
    return image


def _wedges(rng: random.Random, side: int) -> Image.Image:
    image = _gradient(rng, side)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(3, 5)):
        (x, y), radius, start = _point(rng, side), rng.randint(60, 140), rng.randrange(360)
        box = [x - radius, y - radius, x + radius, y + radius]
        draw.pieslice(box, start, start + rng.randint(60, 200), fill=_color(rng))
    return image


PATTERNS: tuple[tuple[str, Drawer], ...] = (
    ("blobs", _blobs),
    ("rectangles", _rectangles),
    ("triangles", _triangles),
    ("target", _target),
    ("bars", _bars),
    ("wedges", _wedges),
)


def degrade(image: Image.Image, *, scale: float = 0.5, jpeg_quality: int = 50) -> bytes:
    """What a re-upload typically does to an image: smaller and recompressed as JPEG."""
    width, height = image.size
    smaller = image.convert("RGB").resize((round(width * scale), round(height * scale)))
    buffer = io.BytesIO()
    smaller.save(buffer, "JPEG", quality=jpeg_quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Sample:
    name: str
    label: str
    image: Image.Image
    pdq: PdqHash


def _robust(image: Image.Image, pdq: PdqHash) -> bool:
    with Image.open(io.BytesIO(degrade(image))) as degraded:
        return pdq.quality >= MIN_QUALITY and pdq.distance(pdq_of_pixels(degraded)) <= (
            MAX_SELF_DISTANCE
        )


def generate(
    seed: int = KNOWN_SEED, count: int = DEFAULT_COUNT, side: int = DEFAULT_SIDE
) -> list[Sample]:
    """``count`` images cycling through the patterns; the same arguments give the same pixels."""
    samples: list[Sample] = []
    for index in range(count):
        kind, draw = PATTERNS[index % len(PATTERNS)]
        for attempt in range(_MAX_ATTEMPTS):
            image = draw(random.Random(f"{seed}:{index}:{attempt}"), side)
            pdq = pdq_of_pixels(image)
            far = all(pdq.distance(s.pdq) >= MIN_MUTUAL_DISTANCE for s in samples)
            if far and _robust(image, pdq):
                break
        else:
            raise RuntimeError(f"no robust {kind} image for seed {seed} after {_MAX_ATTEMPTS}")
        label = f"seed{seed}-{index:02d}-{kind}"
        samples.append(Sample(name=f"{label}.png", label=label, image=image, pdq=pdq))
    return samples
