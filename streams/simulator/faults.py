"""Deciding, per request, which injected fault it meets and how long it waits.

All randomness comes from one ``random.Random``; with a seed, the same sequence of requests meets
the same sequence of faults, so a failing benchmark or test run can be replayed.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from streams.simulator.config import (
    SHA256_PREFIX,
    FaultConfig,
    FixedLatency,
    ImageFault,
    LogNormalLatency,
    OutageMode,
    UniformLatency,
)

SERVER_ERRORS = (500, 502, 503)


class Fault(StrEnum):
    NONE = "none"
    HTTP_5XX = "http_5xx"
    STATUS_3004 = "status_3004"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Decision:
    fault: Fault
    delay_s: float
    http_status: int | None = None


class FaultInjector:
    def __init__(
        self,
        config: FaultConfig,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rng = random.Random(seed)
        self._clock = clock
        self._config = config
        self._storm_until = 0.0
        self.apply(config)

    @property
    def config(self) -> FaultConfig:
        return self._config

    def apply(self, config: FaultConfig) -> None:
        """Replace the faults; a storm duration starts counting now."""
        self._config = config
        self._storm_until = self._clock() + config.storm_429_s

    def storm_remaining_s(self) -> float:
        return max(0.0, self._storm_until - self._clock())

    @property
    def outage(self) -> OutageMode | None:
        return self._config.outage_mode if self._config.outage else None

    def decide(self, *, enhance: bool) -> Decision:
        config = self._config
        draw = self._rng.random()
        if draw < config.timeout_rate:
            return Decision(Fault.TIMEOUT, config.timeout_s)
        delay_s = self._latency_s(enhance=enhance)
        draw -= config.timeout_rate
        if draw < config.error_5xx_rate:
            return Decision(Fault.HTTP_5XX, delay_s, self._rng.choice(SERVER_ERRORS))
        draw -= config.error_5xx_rate
        if draw < config.status_3004_rate:
            return Decision(Fault.STATUS_3004, delay_s)
        return Decision(Fault.NONE, delay_s)

    def image_fault(self, *, url: str | None, image: bytes) -> ImageFault | None:
        """The fault tied to this image, by the URL it was requested by or by its bytes."""
        faults = self._config.image_faults
        if not faults:
            return None
        if url is not None and url in faults:
            return faults[url]
        return faults.get(SHA256_PREFIX + hashlib.sha256(image).hexdigest())

    def _latency_s(self, *, enhance: bool) -> float:
        latency = self._config.latency
        extra_ms = self._config.enhance_extra_ms if enhance else 0.0
        match latency:
            case FixedLatency():
                ms = latency.ms
            case UniformLatency():
                ms = self._rng.uniform(latency.min_ms, latency.max_ms)
            case LogNormalLatency():
                ms = self._rng.lognormvariate(latency.mu, latency.sigma)
        return (ms + extra_ms) / 1000.0
