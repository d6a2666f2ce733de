"""What a reviewer's browser gets of an image: blurred grayscale by default, clear on reveal.

Both are re-encoded as JPEG in memory (which also drops metadata such as GPS positions);
nothing is written to disk. The blurred one is made small first, so the clear image cannot be
recovered from it and blurring stays cheap.
"""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, ImageOps

BLURRED_MAX_SIDE = 480
CLEAR_MAX_SIDE = 1600
#: Blur radius as a fraction of the longer side: enough that no detail survives.
BLUR_FRACTION = 0.06


def _opened(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)  # the first frame of an animation
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def blurred_grayscale(data: bytes) -> bytes:
    image = _opened(data).convert("L")
    image.thumbnail((BLURRED_MAX_SIDE, BLURRED_MAX_SIDE))
    radius = max(2.0, max(image.size) * BLUR_FRACTION)
    return _jpeg(image.filter(ImageFilter.GaussianBlur(radius)))


def clear(data: bytes) -> bytes:
    image = _opened(data)
    image.thumbnail((CLEAR_MAX_SIDE, CLEAR_MAX_SIDE))
    return _jpeg(image)
