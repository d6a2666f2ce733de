"""The rescan lane's size follows live records' queueing: halved while the period's tail (its
95th percentile) of live delays stands above the base by more than the target, grown back by an
eighth otherwise, never below one slot nor above the lane's size; the base is the smallest
delay of the last minutes, so a constant clock offset or network hop is not queueing."""

from __future__ import annotations

import pytest

from streams.scan.call_slots import CallSlots
from streams.scan.rescan_yield import BASE_WINDOW_S, RescanYield

pytestmark = pytest.mark.unit

TARGET_MS = 25.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def governor(size: int = 64) -> tuple[RescanYield, Clock]:
    clock = Clock()
    return RescanYield(CallSlots(size), ceiling=64, target_ms=TARGET_MS, clock=clock), clock


def period(rescans: RescanYield, *delays_ms: float) -> int:
    for delay in delays_ms:
        rescans.live_delay(delay)
    return rescans.adjust()


def test_queueing_live_records_halve_the_rescan_lane_down_to_one_slot() -> None:
    rescans, _ = governor()
    period(rescans, 5.0)  # the base: 5 ms
    sizes = [period(rescans, *[5.0] * 5, *[100.0] * 5) for _ in range(8)]
    assert sizes == [32, 16, 8, 4, 2, 1, 1, 1]


def test_without_queueing_the_lane_grows_back_by_an_eighth_to_its_size() -> None:
    rescans, _ = governor(size=1)
    sizes = [period(rescans, 5.0, 6.0, 20.0) for _ in range(30)]
    assert sizes[:10] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert sizes[-1] == 64 and max(sizes) == 64


def test_a_period_without_live_records_grows_the_lane() -> None:
    rescans, _ = governor(size=8)
    assert period(rescans) == 9


def test_the_tail_decides_not_the_median_nor_one_outlier() -> None:
    rescans, _ = governor(size=16)
    assert period(rescans, 2.0) == 18
    # One slow record in twenty (a GC pause): the 95th percentile is still 2 ms.
    assert period(rescans, *[2.0] * 19, 500.0) == 20
    # Two in twenty: a tail of 500 ms, though the median is 2 ms.
    assert period(rescans, *[2.0] * 18, *[500.0] * 2) == 10


def test_a_constant_offset_between_the_clocks_is_not_queueing() -> None:
    rescans, _ = governor(size=16)
    # The producer's clock runs 3 s behind the worker's: every delay reads 3,000 ms more.
    sizes = [period(rescans, 3_004.0, 3_010.0, 3_020.0) for _ in range(3)]
    assert sizes == [18, 20, 22]
    assert period(rescans, 3_004.0, 3_100.0, 3_100.0) == 11  # a median 96 ms over the base


def test_the_base_forgets_delays_older_than_its_window() -> None:
    rescans, clock = governor(size=16)
    assert period(rescans, 1.0) == 18  # a base of 1 ms
    assert period(rescans, 40.0) == 9  # then 40 ms for good (a slower network)
    clock.now += BASE_WINDOW_S + 1
    assert period(rescans, 40.0) == 10  # 40 ms is the base now: no queueing


def test_the_queueing_figure_is_none_without_records_and_reset_each_period() -> None:
    rescans, _ = governor()
    assert rescans.queueing_ms() is None
    rescans.live_delay(10.0)
    rescans.live_delay(30.0)
    assert rescans.queueing_ms() == 20.0  # the upper median, 30 ms, over a 10 ms base
    rescans.adjust()
    assert rescans.queueing_ms() is None
