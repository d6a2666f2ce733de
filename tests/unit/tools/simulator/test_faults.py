"""Fault configuration and the per-request fault decisions (reproducible with a seed)."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest
from pydantic import ValidationError

from hashgate_tools.simulator import FaultConfig, FixedLatency, LogNormalLatency, UniformLatency
from hashgate_tools.simulator.faults import SERVER_ERRORS, Fault, FaultInjector
from tests.support import FakeClock

pytestmark = pytest.mark.unit


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"error_5xx_rate": 1.5},
        {"timeout_rate": -0.1},
        {"error_5xx_rate": 0.6, "status_3004_rate": 0.3, "timeout_rate": 0.2},
        {"timeout_s": 0},
        {"storm_429_s": -1},
        {"outage_mode": "explode"},
        {"latency": {"kind": "uniform", "min_ms": 50, "max_ms": 10}},
        {"latency": {"kind": "lognormal", "median_ms": 100, "p99_ms": 50}},
        {"latency": {"kind": "fixed", "ms": -1}},
        {"latency": {"kind": "gaussian"}},
        {"unknown_field": 1},
    ],
)
def test_invalid_fault_configs_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FaultConfig.model_validate(fields)


def test_fault_config_round_trips_through_json() -> None:
    config = FaultConfig(
        latency=LogNormalLatency(median_ms=40, p99_ms=400),
        error_5xx_rate=0.1,
        status_3004_rate=0.1,
        timeout_rate=0.05,
        outage=True,
        outage_mode="close",
    )
    assert FaultConfig.model_validate_json(config.model_dump_json()) == config


def test_lognormal_sigma_puts_the_p99_where_asked() -> None:
    latency = LogNormalLatency(median_ms=50, p99_ms=500)
    assert math.exp(latency.mu) == pytest.approx(50)
    assert math.exp(latency.mu + 2.3263478740408408 * latency.sigma) == pytest.approx(500)


# -- decisions -------------------------------------------------------------------------------


def _decisions(config: FaultConfig, n: int, seed: int = 7) -> list[tuple[Fault, float, int | None]]:
    injector = FaultInjector(config, seed=seed)
    return [
        (d.fault, d.delay_s, d.http_status)
        for d in (injector.decide(enhance=False) for _ in range(n))
    ]


def test_no_faults_by_default() -> None:
    assert {fault for fault, _, _ in _decisions(FaultConfig(), 500)} == {Fault.NONE}


def test_same_seed_same_faults() -> None:
    config = FaultConfig(
        latency=UniformLatency(min_ms=0, max_ms=100), error_5xx_rate=0.2, timeout_rate=0.1
    )
    assert _decisions(config, 300, seed=3) == _decisions(config, 300, seed=3)
    assert _decisions(config, 300, seed=3) != _decisions(config, 300, seed=4)


def test_rates_are_honoured() -> None:
    config = FaultConfig(error_5xx_rate=0.2, status_3004_rate=0.1, timeout_rate=0.05)
    counts = Counter(fault for fault, _, _ in _decisions(config, 20_000))
    assert counts[Fault.HTTP_5XX] / 20_000 == pytest.approx(0.2, abs=0.015)
    assert counts[Fault.STATUS_3004] / 20_000 == pytest.approx(0.1, abs=0.015)
    assert counts[Fault.TIMEOUT] / 20_000 == pytest.approx(0.05, abs=0.01)


def test_rate_one_always_faults_and_5xx_statuses_vary() -> None:
    decisions = _decisions(FaultConfig(error_5xx_rate=1.0), 300)
    assert {fault for fault, _, _ in decisions} == {Fault.HTTP_5XX}
    assert {status for _, _, status in decisions} == set(SERVER_ERRORS)


def test_timeouts_hang_for_timeout_s() -> None:
    decisions = _decisions(FaultConfig(timeout_rate=1.0, timeout_s=12.5), 10)
    assert {(fault, delay) for fault, delay, _ in decisions} == {(Fault.TIMEOUT, 12.5)}


def test_fixed_latency_and_enhance_extra() -> None:
    injector = FaultInjector(FaultConfig(latency=FixedLatency(ms=20), enhance_extra_ms=30))
    assert injector.decide(enhance=False).delay_s == pytest.approx(0.020)
    assert injector.decide(enhance=True).delay_s == pytest.approx(0.050)


def test_uniform_latency_stays_in_range() -> None:
    delays = [
        d for _, d, _ in _decisions(FaultConfig(latency=UniformLatency(min_ms=10, max_ms=20)), 2000)
    ]
    assert min(delays) >= 0.010 and max(delays) <= 0.020
    assert statistics.mean(delays) == pytest.approx(0.015, abs=0.001)


def test_lognormal_latency_has_the_requested_median_and_tail() -> None:
    config = FaultConfig(latency=LogNormalLatency(median_ms=50, p99_ms=400))
    delays = sorted(d for _, d, _ in _decisions(config, 20_000))
    assert delays[len(delays) // 2] == pytest.approx(0.050, rel=0.1)
    assert delays[int(len(delays) * 0.99)] == pytest.approx(0.400, rel=0.2)


def test_storm_lasts_its_duration_from_when_it_is_applied() -> None:
    clock = FakeClock(50.0)
    injector = FaultInjector(FaultConfig(), clock=clock)
    assert injector.storm_remaining_s() == 0
    clock.now += 100
    injector.apply(FaultConfig(storm_429_s=5))
    assert injector.storm_remaining_s() == pytest.approx(5)
    clock.now += 4
    assert injector.storm_remaining_s() == pytest.approx(1)
    clock.now += 1.5
    assert injector.storm_remaining_s() == 0


def test_outage_is_reported_with_its_mode_until_cleared() -> None:
    injector = FaultInjector(FaultConfig(outage=True, outage_mode="close"))
    assert injector.outage == "close"
    injector.apply(FaultConfig())
    assert injector.outage is None
