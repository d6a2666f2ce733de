"""The gateway quota: a token bucket per key with one second's burst, and its Retry-After."""

from __future__ import annotations

import pytest

from hashgate_tools.simulator.quota import KeyQuotas, TokenBucket, retry_after_header
from tests.support import FakeClock

pytestmark = pytest.mark.unit


def test_full_burst_then_refusal_with_the_wait_until_the_next_token() -> None:
    clock = FakeClock(1000.0)
    quotas = KeyQuotas(10.0, clock)
    assert [quotas.take("k") for _ in range(10)] == [0.0] * 10
    assert quotas.take("k") == pytest.approx(0.1)


def test_tokens_refill_at_the_rate_and_cap_at_the_burst() -> None:
    clock = FakeClock(1000.0)
    quotas = KeyQuotas(10.0, clock)
    for _ in range(10):
        quotas.take("k")
    clock.now += 0.35
    assert [quotas.take("k") == 0.0 for _ in range(4)] == [True, True, True, False]
    clock.now += 3600
    granted = 0
    while quotas.take("k") == 0.0:
        granted += 1
    assert granted == 10


def test_each_key_has_its_own_bucket() -> None:
    clock = FakeClock(1000.0)
    quotas = KeyQuotas(2.0, clock)
    assert [quotas.take("a"), quotas.take("a")] == [0.0, 0.0]
    assert quotas.take("a") > 0
    assert quotas.take("b") == 0.0


def test_sustained_rate_equals_the_quota() -> None:
    clock = FakeClock(1000.0)
    bucket = TokenBucket(rate=5.0, burst=5.0, clock=clock)
    granted = 0
    for _ in range(1000):  # 10 seconds of a caller trying every 10 ms
        granted += bucket.take() == 0.0
        clock.now += 0.01
    assert granted == pytest.approx(5 + 5 * 10, abs=1)


def test_a_quota_below_one_per_second_still_grants_a_call() -> None:
    clock = FakeClock(1000.0)
    quotas = KeyQuotas(0.5, clock)
    assert quotas.take("k") == 0.0
    assert quotas.take("k") == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("wait", "header"), [(0.001, 1), (0.1, 1), (1.0, 1), (1.01, 2), (2.5, 3), (59.9, 60)]
)
def test_retry_after_is_whole_seconds_at_least_one_and_never_short(
    wait: float, header: int
) -> None:
    assert retry_after_header(wait) == header
