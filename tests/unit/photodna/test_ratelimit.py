"""The per-key token bucket: smooth rate, lanes, rescan floor, AIMD, all in fake time."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from pydantic import SecretStr

from streams.photodna.ratelimit import MIN_RATE_SHARE, Lane, RateLimiter
from tests.support import FakeClock

pytestmark = pytest.mark.unit

EPSILON = 1e-9


def limiter(time: FakeClock, rate: float = 5.0, **options: object) -> RateLimiter:
    return RateLimiter(rate, clock=time, sleep=time.sleep, **options)  # type: ignore[arg-type]


class Grants:
    """Starts acquirers and records, per lane, the fake times and order of their grants."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.log: list[tuple[float, Lane, int]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, lane: Lane, count: int) -> None:
        for _ in range(count):
            ident = len(self.tasks)
            self.tasks.append(asyncio.create_task(self._acquire(lane, ident)))

    async def _acquire(self, lane: Lane, ident: int) -> None:
        granted_at = await self.limiter.acquire(lane)
        self.log.append((granted_at, lane, ident))

    def times(self, lane: Lane | None = None) -> list[float]:
        return [t for t, grant_lane, _ in self.log if lane in (None, grant_lane)]

    async def cancel_rest(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def most_in_any_window(times: list[float], width: float = 1.0) -> int:
    """The largest number of grants in any half-open window [t, t + width)."""
    ordered = sorted(times)
    return max(
        (sum(1 for u in ordered if t <= u < t + width - EPSILON) for t in ordered), default=0
    )


async def test_never_more_than_rate_in_any_second() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=5))
    grants.start(Lane.LIVE, 40)

    await time.run_until(10.0)

    assert len(grants.log) == 40
    assert most_in_any_window(grants.times()) == 5
    gaps = [b - a for a, b in itertools.pairwise(grants.times())]
    assert min(gaps) >= 0.2 - 1e-6  # evenly spaced, no burst


class LateClock(FakeClock):
    """A fake clock whose sleeps overrun by ``late`` seconds, as a busy event loop's do."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + self.late)


@pytest.mark.parametrize("late", [0.001, 0.003, 0.02, 0.09])
async def test_a_late_pump_keeps_the_rate_and_never_sends_two_calls_together(late: float) -> None:
    # 10 calls/s: each wake-up 1 to 90 ms late. Losing the lateness at every call would cost
    # 1-47% of the quota; carried (up to half an interval), the schedule holds.
    time = LateClock(late)
    grants = Grants(limiter(time, rate=10))
    grants.start(Lane.LIVE, 101)

    await time.run_until(30.0)

    granted = grants.times()
    assert len(granted) == 101
    rate = 100 / (granted[-1] - granted[0])
    lost = max(0.0, late - 0.05)  # lateness past half an interval is not carried
    assert rate >= 10 / (1 + 10 * lost) * 0.99
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert min(gaps) >= 0.05 - 1e-6  # never closer than half an interval
    assert most_in_any_window(granted) <= 11


async def test_random_arrivals_never_exceed_rate_plus_burst() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=4, burst=3))
    rng = random.Random(7)
    for second in range(20):
        await time.run_until(float(second) + rng.random())
        grants.start(Lane.LIVE, rng.randint(0, 9))

    await time.run_until(60.0)

    assert most_in_any_window(grants.times()) <= 4 + 3
    await grants.cancel_rest()


async def test_idle_bucket_holds_only_burst_tokens() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=2, burst=3))
    await time.run_until(100.0)  # idle for long: tokens must not pile up beyond the burst
    grants.start(Lane.LIVE, 10)

    await time.run_until(100.0 + 1e-6)

    assert len(grants.log) == 3
    await grants.cancel_rest()


async def test_fifo_within_a_lane() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=10))
    grants.start(Lane.LIVE, 10)

    await time.run_until(2.0)

    assert [ident for _, _, ident in grants.log] == list(range(10))


async def test_a_newcomer_does_not_overtake_queued_calls_when_a_token_accrues() -> None:
    # A call arriving the instant a token is due, before the pump's timer fires, queues behind.
    time = FakeClock()
    grants = Grants(limiter(time, rate=10))
    grants.start(Lane.LIVE, 3)
    await time.run_until(0.0)
    time.advance(0.1)  # the pump has not woken yet
    grants.start(Lane.LIVE, 1)

    await time.run_until(1.0)

    assert [ident for _, _, ident in grants.log] == [0, 1, 2, 3]


async def test_live_goes_first_when_there_is_no_floor() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=10))
    grants.start(Lane.RESCAN, 5)
    grants.start(Lane.LIVE, 10)

    await time.run_until(3.0)

    lanes = [lane for _, lane, _ in grants.log]
    assert lanes == [Lane.LIVE] * 10 + [Lane.RESCAN] * 5


async def test_rescan_waits_while_live_keeps_the_bucket_busy() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=10))
    grants.start(Lane.LIVE, 100)
    grants.start(Lane.RESCAN, 3)

    await time.run_until(5.0)

    assert grants.times(Lane.RESCAN) == []
    await grants.cancel_rest()


async def test_rescan_floor_holds_under_full_live_load() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=10, rescan_floor_rps=2))
    grants.start(Lane.LIVE, 200)
    grants.start(Lane.RESCAN, 200)

    await time.run_until(12.0)

    window = [t for t in grants.times(Lane.RESCAN) if 2.0 <= t < 12.0]
    live = [t for t in grants.times(Lane.LIVE) if 2.0 <= t < 12.0]
    assert 19 <= len(window) <= 21  # 2 per second
    assert 79 <= len(live) <= 81  # the rest of 10 per second
    assert most_in_any_window(grants.times()) <= 10
    await grants.cancel_rest()


async def test_a_share_of_the_rescan_floor_holds_under_full_live_load() -> None:
    # A quarter of a 2/s floor is 0.5 rescans a second: a fraction, and still rescans progress.
    time = FakeClock()
    bucket = limiter(time, rate=10, rescan_floor_rps=2)
    bucket.set_share(0.25)
    grants = Grants(bucket)
    grants.start(Lane.LIVE, 100)
    grants.start(Lane.RESCAN, 100)

    await time.run_until(24.0)

    rescans = [t for t in grants.times(Lane.RESCAN) if 4.0 <= t < 24.0]
    assert 9 <= len(rescans) <= 11  # 0.5 per second
    await grants.cancel_rest()


async def test_the_rescan_floor_starts_at_once_under_live_load() -> None:
    # 2 of 10 calls a second: a rescan within half a second of a live flood's start, whether
    # the bucket is new or rescans just had it to themselves (they owe nothing for that).
    time = FakeClock()
    grants = Grants(limiter(time, rate=10, rescan_floor_rps=2))
    grants.start(Lane.LIVE, 100)
    grants.start(Lane.RESCAN, 100)
    await time.run_until(1.0)
    assert grants.times(Lane.RESCAN)[0] == pytest.approx(0.5)
    await grants.cancel_rest()

    time = FakeClock()
    grants = Grants(limiter(time, rate=10, rescan_floor_rps=2))
    grants.start(Lane.RESCAN, 100)
    await time.run_until(2.0)
    grants.start(Lane.LIVE, 100)
    await time.run_until(3.0)
    assert next(t for t in grants.times(Lane.RESCAN) if t > 2.0) <= 2.5 + EPSILON
    await grants.cancel_rest()


async def test_an_idle_spell_saves_the_rescan_floor_at_most_one_call() -> None:
    # However long the lull, rescans then get one call ahead of live, not a saved-up burst.
    time = FakeClock()
    grants = Grants(limiter(time, rate=10, rescan_floor_rps=2))
    time.advance(60)
    grants.start(Lane.LIVE, 5)
    grants.start(Lane.RESCAN, 5)

    await time.run_until(60.35)

    assert [lane for _, lane, _ in grants.log] == [Lane.LIVE, Lane.RESCAN, Lane.LIVE, Lane.LIVE]
    await grants.cancel_rest()


async def test_below_the_quota_a_live_call_gets_its_token_without_waiting() -> None:
    # The common case costs no trip through the limiter's pump: acquire never suspends.
    call = limiter(FakeClock()).acquire(Lane.LIVE)
    with pytest.raises(StopIteration):
        call.send(None)


async def test_a_live_call_goes_at_once_the_moment_retry_after_ends() -> None:
    time = FakeClock()
    bucket = limiter(time)
    bucket.on_throttled(retry_after=2.0)
    time.advance(2.0)  # exactly the end of the hold, with a token long refilled
    call = bucket.acquire(Lane.LIVE)
    with pytest.raises(StopIteration):
        call.send(None)


async def test_a_live_call_waits_out_retry_after_even_with_tokens_refilled() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=100)
    bucket.on_throttled(retry_after=10.0)
    time.advance(5.0)  # the bucket is full again long before the hold ends
    call = bucket.acquire(Lane.LIVE)
    call.send(None)  # suspends: it must wait for the hold, not go at once
    call.close()


def test_a_keys_limiter_reserves_no_rescan_floor_unless_asked() -> None:
    bucket = RateLimiter.for_key(SecretStr("key-without-floor"), 5)
    assert bucket.rescan_floor_rps == 0


def test_429s_are_counted_for_the_throttled_metric() -> None:
    bucket = limiter(FakeClock())
    assert bucket.throttled == 0
    bucket.on_throttled()
    bucket.on_throttled(retry_after=1.0)
    assert bucket.throttled == 2


async def test_rescans_get_the_whole_rate_when_live_is_idle() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=10, rescan_floor_rps=1))
    grants.start(Lane.RESCAN, 50)

    await time.run_until(3.0)

    assert 29 <= len(grants.times(Lane.RESCAN)) <= 31
    await grants.cancel_rest()


async def test_a_queue_after_a_drained_one_is_served() -> None:
    # The pump ends once nobody waits; the next call that has to wait starts it again.
    time = FakeClock()
    grants = Grants(limiter(time, rate=10))
    grants.start(Lane.LIVE, 3)
    await time.run_until(1.0)
    grants.start(Lane.LIVE, 3)

    await time.run_until(2.0)

    assert grants.times() == pytest.approx([0.0, 0.1, 0.2, 1.0, 1.1, 1.2])


async def test_cancelled_waiter_does_not_hold_up_the_queue() -> None:
    time = FakeClock()
    grants = Grants(limiter(time, rate=1))
    grants.start(Lane.LIVE, 3)
    await time.run_until(0.0)  # the first takes the only token
    grants.tasks[1].cancel()

    await time.run_until(1.0)

    assert [ident for _, _, ident in grants.log] == [0, 2]


async def test_throttle_halves_the_rate_and_success_recovers_it() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=10)

    bucket.on_throttled(None)
    assert bucket.current_rate == pytest.approx(5.0)
    assert bucket.configured_rate == 10

    time.now = 5.0
    bucket.on_throttled(None)
    assert bucket.current_rate == pytest.approx(2.5)

    for _ in range(3):
        bucket.on_success()
    assert bucket.current_rate == pytest.approx(2.5 + 3 * 0.5)
    for _ in range(100):
        bucket.on_success()
    assert bucket.current_rate == 10


async def test_a_share_of_the_key_sets_the_rate_and_floor_and_spaces_calls_by_it() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=10, rescan_floor_rps=2)
    bucket.set_share(0.25)
    assert (bucket.key_rate, bucket.configured_rate, bucket.current_rate) == (10, 2.5, 2.5)
    assert bucket.rescan_floor_rps == pytest.approx(0.5)

    grants = Grants(bucket)
    grants.start(Lane.LIVE, 40)
    await time.run_until(8.0)
    assert most_in_any_window(grants.times()) <= 3, "2.5 calls/s: at most 3 in any second"
    assert len(grants.times()) in (20, 21)
    await grants.cancel_rest()


async def test_a_new_share_keeps_an_aimd_cut_in_force() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=10)
    bucket.on_throttled(None)
    bucket.set_share(0.5)
    assert (bucket.configured_rate, bucket.current_rate) == (5, pytest.approx(2.5))
    for _ in range(100):
        bucket.on_success()
    assert bucket.current_rate == 5, "recovers to the share, not to the key's quota"


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        limiter(FakeClock()).set_share(share)


async def test_rate_never_drops_below_its_floor_share() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=10)

    for step in range(30):
        time.now = float(step)
        bucket.on_throttled(None)

    assert bucket.current_rate == pytest.approx(10 * MIN_RATE_SHARE)


async def test_429s_of_calls_sent_before_the_cut_cut_only_once() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=10)
    time.now = 1.0
    sent_before = [0.8, 0.9, 0.95]

    for granted_at in sent_before:
        bucket.on_throttled(None, granted_at=granted_at)
    assert bucket.current_rate == pytest.approx(5.0)

    time.now = 2.0
    bucket.on_throttled(None, granted_at=1.5)  # sent after the cut: a new signal
    assert bucket.current_rate == pytest.approx(2.5)


async def test_a_429_of_a_call_granted_in_the_tick_of_the_cut_does_not_cut_again() -> None:
    # A cut empties the bucket, so no call is granted after it within the same clock reading:
    # a call granted at that reading went out at the old rate, and its 429 is the same signal.
    time = FakeClock(start=1.0)
    bucket = limiter(time, rate=10)
    granted_at = await bucket.acquire(Lane.LIVE)
    bucket.on_throttled(None)  # an earlier call's 429, in the same tick

    bucket.on_throttled(None, granted_at=granted_at)

    assert bucket.current_rate == pytest.approx(5.0)


async def test_a_one_second_retry_after_is_honoured() -> None:
    # "Retry-After: 1" is the shortest hold a server sends in seconds; the halved rate alone
    # would let the next call go after 0.2 s.
    time = FakeClock()
    bucket = limiter(time, rate=10)
    bucket.on_throttled(retry_after=1.0)
    grants = Grants(bucket)
    grants.start(Lane.LIVE, 1)

    await time.run_until(2.0)

    assert grants.times() == [pytest.approx(1.0)]


async def test_retry_after_holds_every_acquirer_then_resumes_at_the_lower_rate() -> None:
    time = FakeClock()
    bucket = limiter(time, rate=10)
    grants = Grants(bucket)
    grants.start(Lane.LIVE, 1)
    await time.run_until(0.0)
    bucket.on_throttled(3.0)
    grants.start(Lane.LIVE, 5)
    grants.start(Lane.RESCAN, 1)

    await time.run_until(10.0)

    later = grants.times()[1:]
    assert min(later) >= 3.0
    gaps = [b - a for a, b in itertools.pairwise(later)]
    assert min(gaps) >= 1 / 5 - 1e-6  # the halved rate


async def test_a_queued_call_goes_the_moment_retry_after_ends() -> None:
    # The pump sleeps exactly to the end of the hold: not past it, and not a stall.
    time = FakeClock(start=10.0)
    bucket = limiter(time, rate=10)
    grants = Grants(bucket)
    grants.start(Lane.LIVE, 2)
    await time.run_until(10.0)  # the first takes the token, the second queues
    bucket.on_throttled(retry_after=2.0)  # the halved rate refills a token long before 12.0

    await time.run_until(15.0)

    assert grants.times() == [10.0, pytest.approx(12.0)]


async def test_after_a_429_the_next_call_waits_one_token_at_the_halved_rate() -> None:
    # A 429 empties the bucket: no call goes right after it, nor is a debt carried over.
    time = FakeClock()
    bucket = limiter(time, rate=10)
    bucket.on_throttled(None)
    grants = Grants(bucket)
    grants.start(Lane.LIVE, 2)

    await time.run_until(1.0)

    assert grants.times() == [pytest.approx(0.2), pytest.approx(0.4)]


async def test_a_bucket_within_the_float_tolerance_of_a_token_grants_it() -> None:
    # Refills summed in floats land a hair short of whole tokens: 1 - 1e-9 is a whole token,
    # for a live call taking it at once and for a call queued for the pump alike.
    whole = 1 - 1e-9
    time = FakeClock()
    bucket = limiter(time, rate=1)
    await bucket.acquire(Lane.LIVE)
    time.now = whole
    call = bucket.acquire(Lane.LIVE)
    with pytest.raises(StopIteration):
        call.send(None)

    time.now = 2 * whole
    grants = Grants(bucket)
    grants.start(Lane.RESCAN, 1)
    await time.run_until(time.now)  # no time passes
    assert grants.times() == [2 * whole]


async def test_a_larger_share_speeds_up_a_call_already_waiting() -> None:
    # A rebalance that hands this worker more partitions wakes the pump: the queued call goes
    # on the new rate's schedule, not at the time the old rate had set.
    time = FakeClock()
    bucket = limiter(time, rate=10)
    bucket.set_share(0.1)  # 1 call a second
    grants = Grants(bucket)
    grants.start(Lane.LIVE, 2)
    await time.run_until(0.1)  # the first went at 0; the second is due at 1.0

    bucket.set_share(1.0)  # 10 a second: 0.1 token accrued, the rest in 0.09 s

    await time.run_until(2.0)
    assert grants.times() == [0.0, pytest.approx(0.19)]
    bucket.on_throttled(None)  # a 429 after the pump went idle is taken in stride
    assert bucket.current_rate == pytest.approx(5.0)


async def test_for_key_shares_one_instance_per_key_and_keeps_no_key() -> None:
    key = SecretStr("subscription-key-for-ratelimit-test")

    first = RateLimiter.for_key(key, 7.0)

    assert RateLimiter.for_key(SecretStr(key.get_secret_value()), 7.0) is first
    assert RateLimiter.for_key(SecretStr("another-key"), 7.0) is not first
    assert RateLimiter.for_key(key, 3.0) is not first
    registry_text = repr(RateLimiter._registry)
    assert key.get_secret_value() not in registry_text
    assert key.get_secret_value() not in repr(first)


@pytest.mark.parametrize(
    ("rate", "floor", "burst"), [(0, 0, 1), (5, 5, 1), (5, 6, 1), (5, -1, 1), (5, 0, 0)]
)
def test_rejects_impossible_settings(rate: float, floor: float, burst: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, rescan_floor_rps=floor, burst=burst)


@pytest.mark.parametrize("rate", [0, -0.5, -5])
def test_a_rate_not_above_zero_is_refused_by_name(rate: float) -> None:
    # The error names the setting at fault, not the rescan floor the operator may never set.
    with pytest.raises(ValueError, match=r"^rate must be positive$"):
        RateLimiter(rate)


async def test_real_clock_smoke() -> None:
    """With the default clock and sleep, waiters are released without anyone polling."""
    bucket = RateLimiter(200.0)
    granted = await asyncio.wait_for(
        asyncio.gather(*(bucket.acquire(Lane.LIVE) for _ in range(5))), timeout=5
    )
    assert granted == sorted(granted)
