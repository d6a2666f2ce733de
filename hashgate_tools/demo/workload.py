"""What the demo publishes: uploads from three tenants, a few of known images, and bad records.

Every planned record carries the outcome it must get, so the summary can show that each record
got the *right* answer, not merely some answer.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from hashgate_tools.simulator import degrade, generate, packaged_db_path, png_bytes
from streams.errors import ReasonCode
from streams.events import UploadEvent, VerdictKind

TENANTS = ("picshare", "chatly", "forumhub")
#: Share of uploads that show one of the simulator's benign "known" images.
KNOWN_SHARE = 0.12
#: Seed of the images that are not in the simulator's database (all >= 100 bits away from it).
UNKNOWN_SEED = 2024
UNKNOWN_COUNT = 12
TOO_SMALL = (150, 300)

Expected = VerdictKind | ReasonCode


@dataclass(frozen=True)
class SampleFolder:
    """Image files the demo's file server serves, by what the simulator will make of them."""

    folder: Path
    known: list[str]
    reencoded: list[str]  # the known images at half size as JPEG quality 50, same order
    unknown: list[str]
    not_an_image: str
    too_small: str


@dataclass(frozen=True)
class PlannedRecord:
    key: bytes
    value: bytes
    content_id: str
    tenant: str
    image: str  # what was sent, in words, for the table
    expected: Expected


def write_samples(folder: Path) -> SampleFolder:
    folder.mkdir(parents=True, exist_ok=True)
    known_dir = packaged_db_path().parent / "known"
    known, reencoded = [], []
    for path in sorted(known_dir.glob("*.png")):
        shutil.copy(path, folder / path.name)
        with Image.open(path) as image:
            (folder / f"{path.stem}-reupload.jpg").write_bytes(degrade(image))
        known.append(path.name)
        reencoded.append(f"{path.stem}-reupload.jpg")
    unknown = []
    for sample in generate(seed=UNKNOWN_SEED, count=UNKNOWN_COUNT):
        (folder / sample.name).write_bytes(png_bytes(sample.image))
        unknown.append(sample.name)
    with Image.open(folder / known[0]) as image:
        (folder / "avatar-too-small.png").write_bytes(png_bytes(image.resize(TOO_SMALL)))
    (folder / "profile.png").write_bytes(b"<!doctype html><title>not a picture</title>")
    return SampleFolder(folder, known, reencoded, unknown, "profile.png", "avatar-too-small.png")


def _upload(run_id: str, n: int, tenant: str, content_id: str, url: str) -> UploadEvent:
    return UploadEvent(
        event_id=f"demo-{run_id}-{n:04d}",
        tenant=tenant,
        content_id=content_id,
        media_url=url,
        media_type="image/jpeg" if url.endswith(".jpg") else "image/png",
        uploaded_at=datetime.now(UTC),
        metadata={"source": "hashgate demo"},
    )


def _record(event: UploadEvent, image: str, expected: Expected) -> PlannedRecord:
    return PlannedRecord(event.key, event.encode(), event.content_id, event.tenant, image, expected)


def _bad_records(
    run_id: str, samples: SampleFolder, url: Callable[[str], str]
) -> list[PlannedRecord]:
    """A truncated JSON value, an HTML page posing as a PNG, an image below PhotoDNA's minimum."""
    broken = _upload(run_id, 9001, "picshare", "picshare-broken", url(samples.unknown[0]))
    html = _upload(run_id, 9002, "chatly", "chatly-html", url(samples.not_an_image))
    small = _upload(run_id, 9003, "forumhub", "forumhub-tiny", url(samples.too_small))
    truncated = broken.encode()[: len(broken.encode()) // 2]
    return [
        PlannedRecord(
            broken.key,
            truncated,
            broken.content_id,
            broken.tenant,
            "broken JSON",
            ReasonCode.UNDECODABLE,
        ),
        _record(html, "HTML page", ReasonCode.NOT_AN_IMAGE),
        _record(small, "150x300 px", ReasonCode.IMAGE_SIZE_OUT_OF_RANGE),
    ]


def plan_records(
    uploads: int, samples: SampleFolder, url: Callable[[str], str], run_id: str, seed: int = 7
) -> list[PlannedRecord]:
    """``uploads`` uploads in publishing order, with the three bad records spread among them."""
    rng = random.Random(seed)  # a demo, not cryptography
    known_at = set(rng.sample(range(uploads), max(1, round(uploads * KNOWN_SHARE))))
    records = []
    for n in range(uploads):
        tenant = TENANTS[n % len(TENANTS)]
        content_id = f"{tenant}-{n + 1:03d}"
        if n in known_at:
            reupload = rng.random() < 0.5
            pool = samples.reencoded if reupload else samples.known
            image, label = rng.choice(pool), "known, re-encoded" if reupload else "known"
            expected: Expected = VerdictKind.MATCH
        else:
            image, label, expected = rng.choice(samples.unknown), "new", VerdictKind.CLEAR
        event = _upload(run_id, n + 1, tenant, content_id, url(image))
        records.append(_record(event, label, expected))
    for position, bad in zip((3, 2, 1), reversed(_bad_records(run_id, samples, url)), strict=True):
        records.insert(round(uploads * position / 4), bad)
    return records
