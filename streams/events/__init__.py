"""The event contracts on hashgate's topics: versioned pydantic models and their faust codecs."""

from streams.events.base import Event
from streams.events.codec import PydanticCodec, codec_name, register_codecs
from streams.events.rescan import RescanRequest
from streams.events.scan_error import ScanError
from streams.events.upload import Uploader, UploadEvent
from streams.events.verdict import (
    MatchDetail,
    ScanInfo,
    ScanKind,
    Timings,
    Verdict,
    VerdictKind,
    verdict_id_for,
)

#: Every model with a JSON Schema in schemas/ and a registered codec.
EVENT_MODELS: tuple[type[Event], ...] = (UploadEvent, Verdict, ScanError, RescanRequest)

register_codecs(EVENT_MODELS)

__all__ = [
    "EVENT_MODELS",
    "Event",
    "MatchDetail",
    "PydanticCodec",
    "RescanRequest",
    "ScanError",
    "ScanInfo",
    "ScanKind",
    "Timings",
    "UploadEvent",
    "Uploader",
    "Verdict",
    "VerdictKind",
    "codec_name",
    "register_codecs",
    "verdict_id_for",
]
