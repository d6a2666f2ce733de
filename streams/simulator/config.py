"""What a simulator run looks like: keys, quota, service limits, database and injected faults.

Faults are a separate model because they change while the server runs (``PUT /admin/faults``);
everything else is fixed at start, like the real service's limits.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

#: The 99th percentile of a standard normal distribution, to turn a p99 into a log-normal sigma.
_Z_99 = 2.3263478740408408

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeMs = Annotated[float, Field(ge=0.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FixedLatency(_Frozen):
    """Every answer waits the same time; 0 is the benchmark setting."""

    kind: Literal["fixed"] = "fixed"
    ms: NonNegativeMs = 0.0


class UniformLatency(_Frozen):
    kind: Literal["uniform"] = "uniform"
    min_ms: NonNegativeMs
    max_ms: NonNegativeMs

    @model_validator(mode="after")
    def _ordered(self) -> UniformLatency:
        if self.max_ms < self.min_ms:
            raise ValueError("max_ms must be >= min_ms")
        return self


class LogNormalLatency(_Frozen):
    """A long tail like a real cloud API: most answers near the median, a few near the p99."""

    kind: Literal["lognormal"] = "lognormal"
    median_ms: Annotated[float, Field(gt=0.0)]
    p99_ms: Annotated[float, Field(gt=0.0)]

    @model_validator(mode="after")
    def _ordered(self) -> LogNormalLatency:
        if self.p99_ms < self.median_ms:
            raise ValueError("p99_ms must be >= median_ms")
        return self

    @property
    def mu(self) -> float:
        return math.log(self.median_ms)

    @property
    def sigma(self) -> float:
        return (math.log(self.p99_ms) - math.log(self.median_ms)) / _Z_99


Latency = Annotated[FixedLatency | UniformLatency | LogNormalLatency, Field(discriminator="kind")]


class OutageMode(StrEnum):
    HTTP_503 = "503"  # the gateway answers, the service behind it does not
    CLOSE = "close"  # the connection is closed without an answer


class ImageFault(StrEnum):
    """How every call for one image fails, the ways real services fail for single images."""

    STATUS_3004 = "status_3004"  # HTTP 200, Status 3004 "unhandled error"
    HTTP_500 = "http_500"  # HTTP 500 with an empty body
    TIMEOUT = "timeout"  # hangs ``timeout_s``, then the connection drops
    NO_STATUS = "no_status"  # HTTP 200, JSON without a Status object
    UNKNOWN_STATUS = "unknown_status"  # HTTP 200, the undocumented Status 3999
    HTML = "html"  # HTTP 200 with an HTML page


#: What an image fault's key starts with when it names the image by its bytes' SHA-256.
SHA256_PREFIX = "sha256:"


class FaultConfig(_Frozen):
    """Faults injected into Match and Report calls. Applying a config replaces the previous one.

    The three rates share one random draw per request, so their sum is at most 1 and a request
    gets at most one of them.
    """

    latency: Latency = Field(default_factory=FixedLatency)
    enhance_extra_ms: NonNegativeMs = Field(
        0.0, description="Added to the latency when the request asks for enhance=true."
    )
    error_5xx_rate: Rate = Field(0.0, description="Share of requests answered 500/502/503.")
    status_3004_rate: Rate = Field(0.0, description="Share answered HTTP 200 with Status 3004.")
    timeout_rate: Rate = Field(0.0, description="Share that hang, then lose their connection.")
    timeout_s: Annotated[float, Field(gt=0.0)] = Field(
        30.0, description="How long a timed-out request hangs before the connection is dropped."
    )
    storm_429_s: Annotated[float, Field(ge=0.0)] = Field(
        0.0, description="From the moment this config is applied, every request gets 429 for N s."
    )
    outage: bool = Field(False, description="Every Match/Report call fails until cleared.")
    outage_mode: OutageMode = OutageMode.HTTP_503
    image_faults: dict[str, ImageFault] = Field(
        default_factory=dict,
        description=(
            "Faults tied to one image, after the random ones: keyed by the URL of a URL request "
            "or by 'sha256:<hex>' of the image bytes; every Match call for it meets the fault."
        ),
    )

    @model_validator(mode="after")
    def _one_fault_per_request(self) -> FaultConfig:
        if self.error_5xx_rate + self.status_3004_rate + self.timeout_rate > 1.0:
            raise ValueError("error_5xx_rate + status_3004_rate + timeout_rate must be <= 1")
        return self


def packaged_db_path() -> Path:
    """The hash database shipped with the package (hashes of data/known/*.png)."""
    return Path(__file__).parent / "data" / "known_hashes.json"


class SimulatorConfig(_Frozen):
    keys: tuple[SecretStr, ...] = Field(min_length=1, description="Accepted subscription keys.")
    quota_rps: Annotated[float, Field(gt=0.0)] = Field(
        10.0, description="Calls per second per key; the burst is one second's worth."
    )
    db_path: Path = Field(default_factory=packaged_db_path, description="Hash database file.")
    faults: FaultConfig = Field(default_factory=FaultConfig)
    seed: int | None = Field(None, description="Seed of the fault RNG, for reproducible runs.")
    match_threshold: Annotated[int, Field(ge=0, le=256)] = Field(
        31, description="Largest PDQ Hamming distance that still counts as a match."
    )
    min_image_side: Annotated[int, Field(ge=1)] = 160
    max_image_bytes: Annotated[int, Field(ge=1)] = 4 * 1024 * 1024
    max_image_pixels: Annotated[int, Field(ge=1)] = 64_000_000
    max_request_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    url_fetch_timeout_s: Annotated[float, Field(gt=0.0)] = 10.0
    hash_cache_size: Annotated[int, Field(ge=0)] = 4096
    reports_kept: Annotated[int, Field(ge=0)] = 1000
