"""A worker's share of its subscription key's quota: the part of the upload partitions it holds.

Workers on one key split its quota without talking to each other: the consumer group already
splits the upload partitions, and uploads are spread over partitions by content id, so a worker
holding 3 of 8 partitions gets about 3/8 of the traffic and takes 3/8 of the quota. Recomputed
at every rebalance, so a scale-up, a crash or a restart re-divides it with no setting to change.
"""

from __future__ import annotations

from collections.abc import Iterable

from faust.types import TP

from streams.photodna.ratelimit import MIN_RATE_SHARE


def upload_share(assigned: Iterable[TP], uploads_topic: str, partitions: int) -> float:
    """The share of ``partitions`` upload partitions in ``assigned``, from 0.05 to 1.

    A worker holding no upload partition keeps a small share for its rescan and retry calls
    (a 429 then corrects any excess: see RateLimiter.on_throttled).
    """
    held = sum(1 for tp in assigned if tp.topic == uploads_topic)
    return min(1.0, max(held / partitions, MIN_RATE_SHARE))
