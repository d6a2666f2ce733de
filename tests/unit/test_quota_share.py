"""A worker's share of the key's quota: the part of the upload partitions it holds."""

from __future__ import annotations

import pytest
from faust.types import TP

from streams.photodna.ratelimit import MIN_RATE_SHARE
from streams.scan.quota_share import upload_share

pytestmark = pytest.mark.unit

UPLOADS = "content.uploads"


def _tps(topic: str, *partitions: int) -> set[TP]:
    return {TP(topic, p) for p in partitions}


@pytest.mark.parametrize(
    ("held", "share"),
    [((0, 1, 2), 3 / 8), ((5,), 1 / 8), (tuple(range(8)), 1.0)],
)
def test_the_share_is_the_part_of_the_upload_partitions_held(
    held: tuple[int, ...], share: float
) -> None:
    assigned = _tps(UPLOADS, *held) | _tps("content.rescans", 0, 1, 2, 3, 4, 5, 6, 7)
    assert upload_share(assigned, UPLOADS, 8) == pytest.approx(share)


def test_the_shares_of_a_fleet_add_up_to_the_whole_quota() -> None:
    fleet = [(0, 1, 2), (3, 4, 5), (6, 7)]
    assert sum(upload_share(_tps(UPLOADS, *p), UPLOADS, 8) for p in fleet) == pytest.approx(1)


def test_a_worker_without_upload_partitions_keeps_a_small_share_for_rescans() -> None:
    assert upload_share(_tps("content.rescans", 0), UPLOADS, 8) == MIN_RATE_SHARE
