"""Which past uploads a rescan covers: a time range, tenants, and/or a file of content ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streams.errors import EventDecodeError
from streams.events import UploadEvent


@dataclass(frozen=True)
class Selection:
    """All given filters must hold. Times are the records' Kafka timestamps, i.e. when the
    upload event was published, which is what ``offsets_for_times`` can seek to."""

    since: datetime | None = None
    until: datetime | None = None
    tenants: frozenset[str] = frozenset()
    content_ids: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("--since must be before --until")

    @property
    def is_everything(self) -> bool:
        return (
            self.since is None
            and self.until is None
            and not self.tenants
            and self.content_ids is None
        )

    def in_range(self, timestamp_ms: int) -> bool:
        """Kafka timestamps need not grow with offsets, so the span is checked per record."""
        when = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until
        )

    def wants(self, upload: UploadEvent) -> bool:
        return (not self.tenants or upload.tenant in self.tenants) and (
            self.content_ids is None or upload.content_id in self.content_ids
        )


def read_ids_file(path: Path) -> frozenset[str]:
    """One content id per line; blank lines and ``#`` comments are skipped."""
    ids = frozenset(
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    if not ids:
        raise ValueError(f"{path} lists no content ids")
    return ids


@dataclass
class SelectionCounts:
    read: int = 0
    selected: int = 0
    invalid: int = 0
    duplicates: int = 0


class Selector:
    """Decides record by record; remembers event ids so an upload published twice (producers
    deliver at least once) costs one PhotoDNA call, not two."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self.counts = SelectionCounts()
        self._seen: set[str] = set()

    def pick(self, value: bytes | None, timestamp_ms: int) -> UploadEvent | None:
        self.counts.read += 1
        if not self.selection.in_range(timestamp_ms):
            return None
        try:
            upload = UploadEvent.decode(value or b"")
        except EventDecodeError:
            self.counts.invalid += 1  # it has its own DLQ record from the live scan
            return None
        if not self.selection.wants(upload):
            return None
        if upload.event_id in self._seen:
            self.counts.duplicates += 1
            return None
        self._seen.add(upload.event_id)
        self.counts.selected += 1
        return upload
