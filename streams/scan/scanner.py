"""Turns one raw record into exactly one outcome: a verdict, a delayed retry, or a DLQ record.

Fail-closed lives here: a ``clear`` verdict is built only from a PhotoDNA answer with Status
3000 and no match; every other path is a match, a retry, a DLQ record, or a wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streams.errors import (
    ConfigurationError,
    EventDecodeError,
    PermanentError,
    ReasonCode,
    TransientError,
    UnknownStatusError,
)
from streams.events import (
    MatchDetail,
    RescanRequest,
    ScanError,
    ScanInfo,
    ScanKind,
    Timings,
    UploadEvent,
    Verdict,
)
from streams.kafka.record import REPLAYS_HEADER, SourceRecord, dead_letter
from streams.observability.redact import redact_url
from streams.photodna import CircuitBreaker, Lane, Matcher, MatchResult, MediaRef
from streams.scan.pipeline import FatalScanError

log = logging.getLogger(__name__)

OK_STATUS = 3000


@dataclass(frozen=True, slots=True)  # pragma: no mutate (nothing writes to them)
class ScanRequest:
    """What a record asks for, whichever lane it came from."""

    upload: UploadEvent
    scan: ScanInfo
    only_changed: bool = False


def decode_upload(value: bytes | None) -> ScanRequest:
    return ScanRequest(UploadEvent.decode(value or b""), ScanInfo())


def decode_rescan(value: bytes | None) -> ScanRequest:
    request = RescanRequest.decode(value or b"")
    scan = ScanInfo(kind=ScanKind.RESCAN, rescan_id=request.rescan_id)
    return ScanRequest(request.upload, scan, request.only_changed)


DECODERS: dict[Lane, Callable[[bytes | None], ScanRequest]] = {
    Lane.LIVE: decode_upload,
    Lane.RESCAN: decode_rescan,
}


@dataclass(frozen=True, slots=True)  # pragma: no mutate (nothing writes to them)
class VerdictOutcome:
    verdict: Verdict
    request: ScanRequest


@dataclass(frozen=True, slots=True)  # pragma: no mutate (nothing writes to them)
class RetryOutcome:
    """Re-publish the original bytes to the retry topic, to be scanned again after a delay."""

    record: SourceRecord
    attempts: int
    not_before: datetime
    error: str


@dataclass(frozen=True, slots=True)  # pragma: no mutate (nothing writes to them)
class UnchangedOutcome:
    """An only-changed rescan found the content's last verdict again: nothing is emitted."""

    verdict: Verdict
    request: ScanRequest


@dataclass(frozen=True, slots=True)  # pragma: no mutate (nothing writes to them)
class DeadLetterOutcome:
    error: ScanError
    replays: int  # DLQ replays of the record so far, kept as a header for the next replay


Outcome = VerdictOutcome | UnchangedOutcome | RetryOutcome | DeadLetterOutcome


class Scanner:
    """Scans records of one lane. Never raises for an event's fault; raises FatalScanError for
    configuration errors (a bad subscription key), which must stop the worker."""

    def __init__(
        self,
        matcher: Matcher,
        breaker: CircuitBreaker,
        *,  # pragma: no mutate (callers pass these by name)
        lane: Lane,
        enhanced: bool,
        retry_limit: int,
        retry_delay_s: float,
        replay_limit: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.matcher = matcher
        self.breaker = breaker
        self.lane = lane
        self.enhanced = enhanced
        self.retry_limit = retry_limit
        self.retry_delay = timedelta(seconds=retry_delay_s)
        self.replay_limit = replay_limit
        self._decode = DECODERS[lane]
        self._now = clock

    async def scan(self, record: SourceRecord) -> Outcome:
        try:
            request = self._decode(record.value)
        except EventDecodeError as exc:
            return self._dead_letter(record, exc.reason, str(exc), None)
        if record.int_header(REPLAYS_HEADER) > self.replay_limit:
            detail = f"replayed from the DLQ more than {self.replay_limit} times"
            return self._dead_letter(record, ReasonCode.REPLAY_LIMIT_REACHED, detail, request)
        media = MediaRef(str(request.upload.media_url), request.upload.media_type)
        while True:
            try:
                result = await self.matcher.match(media, lane=self.lane)
                return VerdictOutcome(self._verdict(record, request, result), request)
            except ConfigurationError as exc:  # a rejected key, a wrong endpoint
                raise FatalScanError(str(exc), record=record) from exc
            except PermanentError as exc:
                return self._dead_letter(record, exc.reason, str(exc), request)
            except TransientError as exc:
                if not await self.breaker.answering_now():
                    # A service-wide outage: try again, never drain into the DLQ. The client
                    # waits on the breaker before each call, so this does not spin.
                    continue
                # PhotoDNA answers its health probe: this event fails on its own.
                return self._retry_or_dead_letter(record, request, exc)

    def _verdict(self, record: SourceRecord, request: ScanRequest, result: MatchResult) -> Verdict:
        if result.status_code != OK_STATUS and not result.bank_matches:
            # the client should never hand us this; fail closed (a bank match needs no Status)
            raise TransientError(f"PhotoDNA answered Status {result.status_code}, not OK")
        matches = [
            MatchDetail(
                source=f.source,
                violations=list(f.violations),
                match_id=f.match_id,
                distance=f.distance,
            )
            for f in result.flags
        ]
        now = self._now()
        verdict = Verdict.for_upload(
            request.upload,
            is_match=result.is_match or bool(matches) or bool(result.bank_matches),
            matches=matches,
            tracking_id=result.tracking_id,
            enhanced=self.enhanced,
            attempts=max(result.attempts, 1)
            if result.answered_by == "photodna"
            else result.attempts,
            timings=Timings(
                received_at=record.received_at,
                scanned_at=now,
                api_ms=result.api_seconds * 1000,
                quota_ms=result.quota_seconds * 1000,
                total_ms=max((now - record.received_at).total_seconds() * 1000, 0.0),
            ),
            scan=request.scan,
            answered_by=result.answered_by,
            reused_answer=result.reused_answer,
            bank_matches=result.bank_matches,
        )
        if log.isEnabledFor(logging.DEBUG):  # spares a URL parse per verdict otherwise
            log.debug(
                "verdict",
                extra={
                    "verdict": verdict.verdict.value,
                    "content_id": verdict.content_id,
                    "tenant": verdict.tenant,
                    "media": redact_url(str(verdict.media_url)),
                    "tracking_id": verdict.tracking_id,
                    "answered_by": verdict.answered_by,
                },
            )
        return verdict

    def _retry_or_dead_letter(
        self, record: SourceRecord, request: ScanRequest, exc: TransientError
    ) -> Outcome:
        attempts = record.previous_attempts + 1
        if attempts <= self.retry_limit:
            log.warning(
                "scan failed while PhotoDNA is otherwise healthy; retrying later",
                extra={
                    "content_id": request.upload.content_id,
                    "attempts": attempts,
                    "error": str(exc),
                },
            )
            return RetryOutcome(record, attempts, self._now() + self.retry_delay, str(exc))
        if isinstance(exc, UnknownStatusError):
            detail = (
                f"PhotoDNA answered the undocumented Status {exc.status_code} through "
                f"{self.retry_limit} delayed retries: {exc}"
            )
            return self._dead_letter(record, ReasonCode.UNKNOWN_STATUS, detail, request)
        detail = f"transient failures outlived {self.retry_limit} delayed retries: {exc}"
        return self._dead_letter(record, ReasonCode.RETRIES_EXHAUSTED, detail, request)

    def _dead_letter(
        self,
        record: SourceRecord,
        reason: ReasonCode,
        detail: str,
        request: ScanRequest | None,
    ) -> DeadLetterOutcome:
        upload = request.upload if request else None
        error = dead_letter(
            record,
            reason,
            detail,
            now=self._now(),
            attempts=record.previous_attempts + 1,
            first_seen=record.first_seen,
            event_id=upload.event_id if upload else None,
            content_id=upload.content_id if upload else None,
            tenant=upload.tenant if upload else None,
            scan=request.scan if request else None,
        )
        log.warning(
            "record sent to the DLQ",
            extra={
                "reason": reason.value,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "content_id": error.content_id,
            },
        )
        return DeadLetterOutcome(error, replays=record.int_header(REPLAYS_HEADER))
