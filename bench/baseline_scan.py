"""The per-event work both baselines do, the same JSON work the worker does for a clean event.

Decode the UploadEvent, one Match call through the same ``PhotoDNAClient`` (same pool, rate
limiter and retries), build and encode the Verdict. What the baselines leave out (retry lane,
DLQ, per-key order, ordered acks, metrics) is exactly what the comparison prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from streams.events import MatchDetail, ScanInfo, Timings, UploadEvent, Verdict, VerdictKind
from streams.photodna import ImageUrl, PhotoDNAClient
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes
    value: bytes


async def scan_upload(client: PhotoDNAClient, settings: Settings, value: bytes) -> Output:
    received_at = datetime.now(UTC)
    upload = UploadEvent.decode(value)
    result = await client.match(ImageUrl(str(upload.media_url)), enhance=settings.photodna.enhance)
    now = datetime.now(UTC)
    verdict = Verdict.for_upload(
        upload,
        is_match=result.is_match,
        matches=[
            MatchDetail(
                source=f.source,
                violations=list(f.violations),
                match_id=f.match_id,
                distance=f.distance,
            )
            for f in result.flags
        ],
        tracking_id=result.tracking_id,
        enhanced=settings.photodna.enhance,
        attempts=result.attempts,
        timings=Timings(
            received_at=received_at,
            scanned_at=now,
            api_ms=result.api_seconds * 1000,
            quota_ms=result.quota_seconds * 1000,
            total_ms=(now - received_at).total_seconds() * 1000,
        ),
        scan=ScanInfo(),
    )
    topics = settings.topics
    topic = topics.verdicts_match if verdict.verdict is VerdictKind.MATCH else topics.verdicts_clear
    return Output(topic, verdict.content_id.encode(), verdict.encode())


def client_for(settings: Settings) -> PhotoDNAClient:
    return PhotoDNAClient.from_settings(
        settings.photodna, rescan_floor_rps=settings.scan.rescan_floor_rps
    )
