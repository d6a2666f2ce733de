"""The topic registry: every topic hashgate reads or writes, declared once.

An entry names the topic's setting (a ``TopicSettings`` field, a feature's own setting such as
``cache.topic``, or the topic it is named after), the event it carries and its key, who writes
and who reads it, and its cleanup policy and retention. The rest derives from here: the topics
each process creates and its producer tracks before its first send (``topics_of``, used by
streams/kafka/topics.py and the writers), the savers' and replay's topics (``declared``), the
AsyncAPI document (streams/events/schemas.py), deploy/create-topics.sh (``hashgate schemas
topics-script``) and the test harness. tests/unit/events/test_topics.py fails when a copy
drifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.events.audit import ReviewAudit
from streams.events.base import Event
from streams.events.moderation import ModerationAction
from streams.events.reporting import ReportOutcome, ReviewDecision, ReviewRequest
from streams.events.rescan import RescanManifest, RescanOutcome, RescanRequest
from streams.events.scan_error import DlqReplayMark, ScanError
from streams.events.stats import MatchCount
from streams.events.upload import UploadEvent
from streams.events.verdict import Verdict
from streams.settings import Settings, TopicSettings

# Who writes and reads the topics: hashgate's own processes, and the systems around it.
PLATFORMS = "platforms (upload services)"
SCAN_WORKER = "hashgate worker (scan agent)"
MODERATION = "hashgate moderation agent"
REPORTING = "hashgate reporting agent"
STATS = "hashgate stats agent"
RESCAN_START = "hashgate rescan start"
RESCAN_STATUS = "hashgate rescan status"
DLQ_REPLAY = "hashgate dlq replay"
UPLOADS_PUBLISH = "hashgate uploads publish"
DUPLICATE_CACHE = "hashgate worker (duplicate cache, bytes mode)"
BANK_MATCHING = "hashgate worker (hash banks, bytes mode)"
BANKS_CLI = "hashgate banks"

#: Rescan outcomes are kept this long, so a rescan that runs for weeks can still be counted.
PROGRESS_RETENTION_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    """One topic: its setting, what it carries, who writes and reads it, how Kafka keeps it."""

    #: A ``TopicSettings`` field, or ``group.field`` of a feature's own setting (``cache.topic``).
    setting: str
    #: None for a feature's own record format, not an event of hashgate's (internal only).
    model: type[Event] | None
    key: str
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    compacted: bool = False
    #: Also deleted past its retention (``compact,delete``): a compacted topic kept bounded.
    deleted: bool = False
    retention_ms: int | None = None
    #: The setting (seconds, ``group.field``) its retention follows, instead of retention_ms.
    retention_setting: str | None = None
    #: Named ``<that topic's name><suffix>`` instead of having a setting of its own.
    named_after: tuple[str, str] | None = None
    #: Created by whoever creates that topic too (the rescan family travels together).
    created_with: str | None = None
    #: hashgate's own plumbing, not a contract with other systems: kept out of the AsyncAPI.
    internal: bool = False

    def __post_init__(self) -> None:
        if self.model is None and not self.internal:
            raise ValueError(f"{self.setting}: a topic other systems use carries an event")

    @property
    def own_setting(self) -> bool:
        """Named by a feature's own setting (``cache.topic``), outside ``TopicSettings``."""
        return "." in self.setting

    @property
    def env_var(self) -> str:
        """The environment variable that names it (for a topic not named after another)."""
        group, field = self.setting.split(".") if self.own_setting else ("topics", self.setting)
        return f"HASHGATE_{group.upper()}__{field.upper()}"

    @property
    def event(self) -> type[Event]:
        """The event it carries; only hashgate's own plumbing may carry none."""
        if self.model is None:
            raise ValueError(f"{self.setting} carries no hashgate event")
        return self.model

    def address(self, settings: Settings | TopicSettings) -> str:
        """Its configured name; a feature's own topic needs the whole ``Settings``."""
        if self.own_setting:
            return str(_setting(settings, self.setting))
        topics = settings.topics if isinstance(settings, Settings) else settings
        if self.named_after is not None:
            base, suffix = self.named_after
            return f"{getattr(topics, base)}{suffix}"
        return str(getattr(topics, self.setting))

    def configs(self, settings: Settings | TopicSettings) -> dict[str, str]:
        """Kafka topic configs beyond partitions and replication (those are settings); a
        retention that follows a setting needs the whole ``Settings``."""
        policy = [p for p, on in (("compact", self.compacted), ("delete", self.deleted)) if on]
        configs = {"cleanup.policy": ",".join(policy)} if policy else {}
        retention_ms = self.retention_ms
        if self.retention_setting is not None:
            retention_ms = int(float(_setting(settings, self.retention_setting)) * 1000)
        if retention_ms is not None:
            configs["retention.ms"] = str(retention_ms)
        return configs


def _setting(settings: Settings | TopicSettings, path: str) -> Any:
    if not isinstance(settings, Settings):
        raise TypeError(f"{path} is not a topic setting: pass the whole Settings")
    group, field = path.split(".")
    return getattr(getattr(settings, group), field)


REGISTRY: tuple[Topic, ...] = (
    Topic(
        "uploads",
        UploadEvent,
        "content_id",
        "One event per uploaded image.",
        (PLATFORMS, DLQ_REPLAY, UPLOADS_PUBLISH),
        (SCAN_WORKER,),
    ),
    Topic(
        "rescans",
        RescanRequest,
        "content_id",
        "Past uploads to scan again (own lane).",
        (RESCAN_START,),
        (SCAN_WORKER,),
    ),
    Topic(
        "rescans_status",
        RescanManifest,
        "rescan_id",
        "Compacted: the manifest of each rescan run (selection, total, where outcomes start).",
        (RESCAN_START,),
        (RESCAN_STATUS,),
        compacted=True,
        named_after=("rescans", ".status"),
        created_with="rescans",
    ),
    Topic(
        "rescans_progress",
        RescanOutcome,
        "rescan_id",
        "One outcome per finished rescan request: match, clear, unchanged or error.",
        (SCAN_WORKER,),
        (RESCAN_STATUS,),
        retention_ms=PROGRESS_RETENTION_MS,
        named_after=("rescans", ".progress"),
        created_with="rescans",
    ),
    Topic(
        "retries",
        UploadEvent,
        "the input record's key",
        "Delayed retries of single events: the input record, byte for byte, with retry headers.",
        (SCAN_WORKER,),
        (SCAN_WORKER,),
        internal=True,
    ),
    Topic(
        "verdicts_match",
        Verdict,
        "content_id",
        "Uploads that matched known images.",
        (SCAN_WORKER,),
        (MODERATION, REPORTING, STATS, "NCMEC-reporting services"),
    ),
    Topic(
        "verdicts_clear",
        Verdict,
        "content_id",
        "Uploads PhotoDNA answered as clear.",
        (SCAN_WORKER,),
        ("platforms (publish pipeline)",),
    ),
    Topic(
        "verdicts_latest",
        Verdict,
        "content_id",
        "Compacted: the last verdict per content id (for --only-changed rescans).",
        (SCAN_WORKER,),
        (SCAN_WORKER,),
        compacted=True,
    ),
    Topic(
        "scan_errors",
        ScanError,
        "original record key",
        "The DLQ: refused inputs, byte for byte, with a reason code.",
        (SCAN_WORKER,),
        ("operators", DLQ_REPLAY),
    ),
    Topic(
        "scan_errors_replayed",
        DlqReplayMark,
        "DLQ partition/offset",
        "Compacted: the DLQ records already replayed, so no run replays one twice.",
        (DLQ_REPLAY,),
        (DLQ_REPLAY,),
        compacted=True,
        named_after=("scan_errors", ".replayed"),
    ),
    Topic(
        "moderation_actions",
        ModerationAction,
        "content_id",
        "One event per action the moderation policy asks for, written in Kafka transactions: "
        "read with isolation.level=read_committed; action_id is stable across replays.",
        (MODERATION,),
        ("platforms (moderation tooling)",),
    ),
    Topic(
        "reports_review",
        ReviewRequest,
        "content_id",
        "NCMEC reports waiting for a human approve or reject.",
        (REPORTING,),
        ("operators (hashgate reports pending)",),
    ),
    Topic(
        "reports_decisions",
        ReviewDecision,
        "content_id",
        "Operators' review decisions.",
        ("hashgate reports approve|reject", "the reporting agent's review desk"),
        (REPORTING,),
    ),
    Topic(
        "reports_outcomes",
        ReportOutcome,
        "content_id",
        "Every outcome of a report: filed, rejected or failed.",
        (REPORTING,),
        ("operators", "compliance records", "hashgate reports pending"),
    ),
    Topic(
        "reports_audit",
        ReviewAudit,
        "actor",
        "Review desk audit trail: every login and failed login, image reveal and decision.",
        (REPORTING,),
        ("compliance records", "security monitoring"),
    ),
    Topic(
        "stats",
        MatchCount,
        "tenant/day or tenant/day/source",
        "Compacted: daily match counts per tenant and per tenant and source.",
        (STATS,),
        ("operators (aggregate usage reports)",),
        compacted=True,
    ),
    Topic(
        "downstream_errors",
        ScanError,
        "original record key",
        "DLQ of the downstream agents: refused records, byte for byte, with a reason code.",
        (MODERATION, REPORTING, STATS),
        ("operators",),
    ),
    Topic(
        "cache.topic",
        None,
        "image SHA-256",
        "Compacted and deleted past cache.keep_s: PhotoDNA's last answer per image.",
        (DUPLICATE_CACHE,),
        (DUPLICATE_CACHE,),
        compacted=True,
        deleted=True,
        retention_setting="cache.keep_s",
        internal=True,
    ),
    Topic(
        "banks.topic",
        None,
        "bank name, or bank and entry id",
        "Compacted: every local hash bank's settings and entries.",
        (BANKS_CLI,),
        (BANK_MATCHING, BANKS_CLI),
        compacted=True,
        internal=True,
    ),
)

BY_SETTING: dict[str, Topic] = {topic.setting: topic for topic in REGISTRY}


def topic_name(topics: TopicSettings, setting: str) -> str:
    """The configured name of the registry's topic ``setting`` (e.g. ``"rescans_progress"``)."""
    return BY_SETTING[setting].address(topics)


def topics_of(topics: TopicSettings, *roles: str) -> dict[str, dict[str, str]]:
    """The topics ``roles`` read or write, and those created with them: name -> configs."""
    own = {t.setting for t in REGISTRY if {*t.producers, *t.consumers} & set(roles)}
    family = {t.setting for t in REGISTRY if t.created_with in own}
    return {t.address(topics): t.configs(topics) for t in REGISTRY if t.setting in own | family}


def declared(settings: Settings, *entries: str) -> dict[str, dict[str, str]]:
    """The registry's ``entries`` (settings such as ``"cache.topic"``): name -> configs."""
    return {
        BY_SETTING[entry].address(settings): BY_SETTING[entry].configs(settings)
        for entry in entries
    }


def settings_of(*roles: str) -> list[str]:
    """The ``TopicSettings`` fields naming the topics ``roles`` read or write."""
    return [
        t.setting
        for t in REGISTRY
        if t.named_after is None and {*t.producers, *t.consumers} & set(roles)
    ]


#: The topics named by a feature's own setting (``cache.topic``), outside ``TopicSettings``.
OWN_SETTING_TOPICS: tuple[Topic, ...] = tuple(t for t in REGISTRY if t.own_setting)
