"""The event contracts on hashgate's topics: versioned pydantic models, and the topic registry."""

from streams.events.audit import AuditAction, ReviewAudit
from streams.events.base import Event
from streams.events.moderation import ActionKind, ModerationAction, action_id_for
from streams.events.reporting import (
    ReportOutcome,
    ReportStatus,
    ReviewChoice,
    ReviewDecision,
    ReviewRequest,
    outcome_id_for,
    report_id_for,
)
from streams.events.rescan import RescanManifest, RescanOutcome, RescanRequest
from streams.events.scan_error import DlqReplayMark, ScanError
from streams.events.stats import MatchCount
from streams.events.upload import Uploader, UploadEvent
from streams.events.verdict import (
    BankMatch,
    MatchDetail,
    ReusedAnswer,
    ScanInfo,
    ScanKind,
    Timings,
    Verdict,
    VerdictKind,
    verdict_id_for,
)

#: Every model with a JSON Schema in schemas/.
EVENT_MODELS: tuple[type[Event], ...] = (
    UploadEvent,
    Verdict,
    ScanError,
    DlqReplayMark,
    RescanRequest,
    RescanManifest,
    RescanOutcome,
    ModerationAction,
    ReviewRequest,
    ReviewDecision,
    ReportOutcome,
    ReviewAudit,
    MatchCount,
)


__all__ = [
    "EVENT_MODELS",
    "ActionKind",
    "AuditAction",
    "BankMatch",
    "DlqReplayMark",
    "Event",
    "MatchCount",
    "MatchDetail",
    "ModerationAction",
    "ReportOutcome",
    "ReportStatus",
    "RescanManifest",
    "RescanOutcome",
    "RescanRequest",
    "ReusedAnswer",
    "ReviewAudit",
    "ReviewChoice",
    "ReviewDecision",
    "ReviewRequest",
    "ScanError",
    "ScanInfo",
    "ScanKind",
    "Timings",
    "UploadEvent",
    "Uploader",
    "Verdict",
    "VerdictKind",
    "action_id_for",
    "outcome_id_for",
    "report_id_for",
    "verdict_id_for",
]
