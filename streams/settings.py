"""Every knob hashgate reads, from environment variables prefixed ``HASHGATE_``.

Groups are nested models; their variables join the names with a double underscore, e.g.
``HASHGATE_KAFKA__BOOTSTRAP_SERVERS`` or ``HASHGATE_PHOTODNA__SUBSCRIPTION_KEY``. Settings are
frozen: a worker reads them once at start, so a bad value fails there, not mid-stream.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from streams.errors import ConfigurationError
from streams.ports import DEFAULT_PORTS

ENV_PREFIX = "HASHGATE_"
ENV_NESTED_DELIMITER = "__"

PositiveFloat = Annotated[float, Field(gt=0)]


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class DeliveryMode(StrEnum):
    """How PhotoDNA gets the image: it downloads the URL itself, or we fetch and send bytes."""

    URL = "url"
    BYTES = "bytes"


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Group):
    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    security_protocol: SecurityProtocol = Field(
        SecurityProtocol.PLAINTEXT, description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL protocols only)."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (secret).")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signs the brokers' certs.")
    ssl_certfile: Path | None = Field(None, description="Client certificate for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Client key for mutual TLS.")
    consumer_group: str = Field("hashgate", description="Consumer group (the Faust app id).")
    session_timeout_s: float = Field(
        10.0,
        ge=6.0,
        le=300.0,
        description="Group session timeout: how soon a dead worker's partitions move on.",
    )

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _file_exists(cls, path: Path | None) -> Path | None:
        """Checked per field, so the error names the variable that points nowhere."""
        if path is not None and not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                raise ValueError(
                    "HASHGATE_KAFKA__SASL_MECHANISM is required when security_protocol is SASL_*"
                )
            if not self.sasl_username or self.sasl_password is None:
                raise ValueError(
                    "HASHGATE_KAFKA__SASL_USERNAME and HASHGATE_KAFKA__SASL_PASSWORD are "
                    "required for SASL"
                )
        return self

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]


class TopicSettings(_Group):
    uploads: str = Field("content.uploads", description="Upload events from platforms.")
    rescans: str = Field("content.rescans", description="Rescan requests (the rescan lane).")
    verdicts_match: str = Field("content.verdicts.match", description="Match verdicts.")
    verdicts_clear: str = Field("content.verdicts.clear", description="Clear verdicts.")
    verdicts_latest: str = Field(
        "content.verdicts.latest", description="Compacted: last verdict per content id."
    )
    scan_errors: str = Field("content.scan.errors", description="The DLQ, with reason codes.")
    retries: str = Field("content.scan.retries", description="Delayed retries of single events.")
    moderation_actions: str = Field("moderation.actions", description="Moderation actions.")
    reports_review: str = Field("reports.review", description="Reports awaiting human review.")
    reports_decisions: str = Field("reports.decisions", description="Operator review decisions.")
    reports_outcomes: str = Field("reports.outcomes", description="NCMEC report outcomes.")
    reports_audit: str = Field(
        "reports.audit", description="Review desk audit: logins, image reveals, decisions."
    )
    stats: str = Field("stats.matches", description="Aggregate match counts.")
    downstream_errors: str = Field(
        "downstream.errors", description="DLQ of the moderation, reporting and stats agents."
    )
    partitions: int = Field(8, ge=1, description="Partitions for topics hashgate creates.")
    replication_factor: int = Field(1, ge=1, description="Replication for topics it creates.")


class PhotoDNASettings(_Group):
    endpoint: AnyHttpUrl = Field(
        AnyHttpUrl("https://api.microsoftmoderator.com/photodna/v1.0"),
        description="Base URL of the PhotoDNA API (or the simulator).",
    )
    subscription_key: SecretStr | None = Field(
        None, description="Ocp-Apim-Subscription-Key (secret; required by the worker)."
    )
    enhance: bool = Field(False, description="Ask PhotoDNA for enhanced (slower) matching.")
    connect_timeout_s: PositiveFloat = Field(5.0, description="TCP/TLS connect timeout.")
    read_timeout_s: PositiveFloat = Field(30.0, description="Response timeout per call.")
    max_connections: int = Field(100, ge=1, description="HTTP connection pool size.")
    key_quota_rps: PositiveFloat = Field(
        10.0,
        description="The subscription key's quota in calls/s, for all workers on the key "
        "together: each takes the share of the upload partitions it holds.",
    )
    max_attempts: int = Field(6, ge=1, description="Attempts per call for transient errors.")
    backoff_base_s: PositiveFloat = Field(0.2, description="First retry backoff (capped, jitter).")
    backoff_cap_s: PositiveFloat = Field(30.0, description="Longest single retry backoff.")
    breaker_failure_threshold: int = Field(
        5,
        ge=1,
        description="Consecutive transient failures that make the breaker probe PhotoDNA's health.",
    )
    breaker_reset_s: PositiveFloat = Field(
        5.0,
        description="Seconds the breaker stays open before probing again; also the least time "
        "between two probes while it is closed.",
    )
    ncmec_username: str | None = Field(None, description="NCMEC CyberTipline user (x-usr).")
    ncmec_password: SecretStr | None = Field(None, description="NCMEC password (x-pwd, secret).")

    @model_validator(mode="before")
    @classmethod
    def _no_per_worker_rate(cls, data: Any) -> Any:
        """The old per-worker setting would otherwise fail as a bare "extra input"."""
        if isinstance(data, dict) and "rate_limit_rps" in data:
            raise ValueError(
                "HASHGATE_PHOTODNA__RATE_LIMIT_RPS is gone: set HASHGATE_PHOTODNA__KEY_QUOTA_RPS "
                "to the key's whole quota (workers share it by upload partitions, no division)"
            )
        return data


class MediaSettings(_Group):
    delivery_mode: DeliveryMode = Field(
        DeliveryMode.URL, description="url: PhotoDNA downloads; bytes: hashgate fetches and sends."
    )
    fetch_timeout_s: PositiveFloat = Field(10.0, description="Whole-download time limit.")
    max_fetch_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest image hashgate downloads in bytes mode."
    )
    max_redirects: int = Field(3, ge=0, description="Redirects followed (each re-checked).")
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts or CIDRs exempt from the private-address check (JSON list).",
    )


class ScanSettings(_Group):
    max_in_flight: int = Field(64, ge=1, description="PhotoDNA calls in flight per worker.")
    rescan_floor_rps: PositiveFloat = Field(
        1.0,
        description="Calls/s of the key's quota the rescan lane always keeps (fleet-wide, "
        "shared like the quota).",
    )
    live_delay_target_ms: PositiveFloat = Field(
        3.0,
        description="Queueing of live records (the 95th percentile of each half second's) "
        "above which the rescan lane gives up call slots to them.",
    )
    event_retry_limit: int = Field(
        3, ge=0, description="Delayed retries of one failing event before it goes to the DLQ."
    )
    event_retry_delay_s: PositiveFloat = Field(
        30.0, description="Delay before a failing event is retried from the retry topic."
    )
    dlq_replay_limit: int = Field(
        3, ge=1, description="Times a DLQ record may be replayed before it stays in the DLQ."
    )
    shutdown_grace_s: PositiveFloat = Field(
        30.0, description="On SIGTERM, how long in-flight scans may take to finish."
    )


class CacheSettings(_Group):
    """The exact-duplicate cache (bytes mode only: content behind a URL can change)."""

    enabled: bool = Field(True, description="Reuse PhotoDNA's answer for byte-identical images.")
    topic: str = Field(
        "hashgate.cache.answers",
        description="Compacted: image SHA-256 to PhotoDNA's last answer; every worker follows it.",
    )
    clear_max_age_s: PositiveFloat = Field(
        24 * 3600.0,
        description="Age past which a cached clear is asked again (PhotoDNA's lists grow); a "
        "cached match answers for as long as the cache keeps it (keep_s).",
    )
    keep_s: PositiveFloat = Field(
        30 * 24 * 3600.0,
        description="How long an answer stays in the cache: the topic's retention and the "
        "expiry of each worker's copy on disk, so both hold at most the distinct images of "
        "this period (about 300 bytes each). Older, PhotoDNA is asked again.",
    )

    @model_validator(mode="after")
    def _keeps_clears_long_enough(self) -> CacheSettings:
        if self.keep_s < self.clear_max_age_s:
            raise ValueError(
                f"cache.keep_s ({self.keep_s:g}) is shorter than cache.clear_max_age_s "
                f"({self.clear_max_age_s:g}): a clear would be dropped before its age limit"
            )
        return self


class BanksSettings(_Group):
    """Local hash banks (bytes mode only; needs the `banks` extra)."""

    enabled: bool = Field(False, description="Match images against the banks topic's entries.")
    topic: str = Field(
        "hashgate.banks", description="Compacted: every bank's settings and entries."
    )
    pdq_threshold: int = Field(
        31, ge=0, le=256, description="Largest PDQ Hamming distance that counts as a match."
    )


class ModerationSettings(_Group):
    policy_file: Path | None = Field(
        None, description="YAML policy mapping matches to actions (required by the agent)."
    )


class ReportingSettings(_Group):
    org_name: str | None = Field(None, description="OrgName of NCMEC reports (required).")
    reporter_name: str | None = Field(None, description="ReporterName of reports (required).")
    reporter_email: str | None = Field(None, description="ReporterEmail of reports (required).")
    production: bool = Field(
        False, description="File real CyberTipline reports; false: NCMEC's test environment."
    )
    review_gate: bool = Field(
        True, description="Hold every report for a human approve/reject before filing."
    )
    retry_delay_s: PositiveFloat = Field(
        60.0, description="Wait before retrying a report PhotoDNA could not take."
    )


class ReviewRole(StrEnum):
    """What a review desk account may do: ``reviewer`` decides, ``auditor`` only reads."""

    REVIEWER = "reviewer"
    AUDITOR = "auditor"


class ReviewSettings(_Group):
    accounts_file: Path | None = Field(
        None,
        description="Reviewer accounts (argon2 hashes) kept by `hashgate reviewers add`.",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Key signing session cookies (secret); unset: random per process start.",
    )
    session_idle_s: PositiveFloat = Field(
        900.0, description="A review desk session ends after this long without a request."
    )
    secure_cookies: bool = Field(
        False, description="Mark session cookies Secure (set it when served over TLS)."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins per account, and per address, before a lockout."
    )
    login_lockout_s: PositiveFloat = Field(
        300.0, description="Window of counted failed logins, and how long a lockout lasts."
    )
    proxy_user_header: str | None = Field(
        None, description="Header naming the user set by a trusted reverse proxy; unset: off."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "Addresses or CIDRs whose proxy_user_header and X-Forwarded-For are believed "
            "(JSON list)."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or CIDR") from None
        return proxies

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("needs at least 32 characters (e.g. `openssl rand -hex 32`)")
        return secret


class StatsSettings(_Group):
    retention_days: int = Field(
        400, ge=1, description="Days of daily match counts the stats agent keeps."
    )


class StateStore(StrEnum):
    """Where faust keeps the tables: ``rocksdb`` on disk (survives a restart, holds more than
    RAM), ``memory`` (rebuilt from the changelog at every start: tests and tools only)."""

    ROCKSDB = "rocksdb"
    MEMORY = "memory"


class StateSettings(_Group):
    store: StateStore = Field(
        StateStore.ROCKSDB, description="Table store: rocksdb (on disk) or memory (tests only)."
    )
    dir: Path | None = Field(
        None,
        description="Directory of the tables' RocksDB files; unset: <tmp>/hashgate-faust. "
        "Each instance uses <dir>/<consumer group>-<web port>: keep it on a persistent volume.",
    )
    standby_replicas: int = Field(
        1,
        ge=0,
        description="Other instances keeping a warm copy of each table partition, so a "
        "rebalance does not replay its changelog from zero.",
    )
    seen_expiry_days: int = Field(
        14,
        ge=1,
        description="Days a handled verdict/decision id is remembered for idempotency "
        "(kept at least this long, dropped within twice this).",
    )
    verdict_digests_ttl_s: float | None = Field(
        None,
        gt=0,
        description="Expiry of a content's latest verdict in the worker's table (unset: as "
        "long as the compacted latest-verdict topic keeps it; an expired one means "
        "'changed', so the rescan verdict is emitted).",
    )
    rocksdb_memory_mb: int = Field(
        8,
        ge=2,
        description="RocksDB memory of one process, in MiB: a read cache shared by all its "
        "tables and partitions (the worker's copy of the cache topic too), which their write "
        "buffers are charged to; a buffer goes to disk once the buffers hold half of it. "
        "Raise it for large states: index and filter blocks (about 1.6 bytes per entry) live "
        "in it too; and past about 200 table partitions in one process, each of which holds "
        "1/256 of the write buffers once it has an entry.",
    )
    checkpoint_interval_s: PositiveFloat = Field(
        10.0,
        description="How often the worker records how far its table is up to date, so a "
        "restart reads only the changelog records written after that.",
    )
    exactly_once: bool = Field(
        True,
        description="Moderation and stats agents: Kafka transactions, so a crash neither "
        "loses nor doubles an action or a count (their consumers read with "
        "isolation.level=read_committed); false: at-least-once, actions de-duplicated by id.",
    )


class WebSettings(_Group):
    host: str = Field("127.0.0.1", description="Bind address of metrics and health pages.")
    port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of its HTTP pages (unset: the process's own, see Web ports).",
    )

    def port_of(self, process: str) -> int:
        """The port ``process`` listens on: the setting, else its default in ``DEFAULT_PORTS``."""
        return DEFAULT_PORTS[process] if self.port is None else self.port


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        frozen=True,
        extra="ignore",
        case_sensitive=False,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    photodna: PhotoDNASettings = Field(default_factory=PhotoDNASettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    banks: BanksSettings = Field(default_factory=BanksSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)
    reporting: ReportingSettings = Field(default_factory=ReportingSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    stats: StatsSettings = Field(default_factory=StatsSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    log_level: str = Field(
        "INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Log level."
    )

    def secrets(self) -> list[SecretStr | None]:
        """Every secret value a log line must never show (see SecretScrubber)."""
        return [
            self.photodna.subscription_key,
            self.photodna.ncmec_password,
            self.kafka.sasl_password,
            self.review.session_secret,
        ]


def env_var_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable a validation error location refers to."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(parts).upper()


def unknown_groups(environ: Mapping[str, str]) -> list[str]:
    """``HASHGATE_<GROUP>__<NAME>`` variables whose group does not exist, with a suggestion.

    pydantic-settings ignores them, so a typo in a group name (``HASHGATE_SCANN__...``) would
    otherwise leave the setting at its default without a word. Names without ``__`` are left
    alone: other tools share the prefix (the simulator's ``HASHGATE_SIMULATOR_KEYS``).
    """
    groups = sorted(Settings.model_fields)
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or ENV_NESTED_DELIMITER not in upper:
            continue
        group = upper.removeprefix(ENV_PREFIX).split(ENV_NESTED_DELIMITER, 1)[0].lower()
        if group not in groups:
            close = difflib.get_close_matches(group, groups, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"groups: {', '.join(groups)}"
            problems.append(f"{name}: no settings group {group!r} ({hint})")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; a bad value raises ConfigurationError naming it."""
    if problems := unknown_groups(os.environ):
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(problems))
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a JSON-typed variable (list or whole group) is not JSON
        raise ConfigurationError(f"invalid configuration: {exc}: not valid JSON") from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = env_var_name(err["loc"]) if err["loc"] else "HASHGATE_* (group)"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(problems)) from None
