"""Aggregate match counts: what an operator needs for usage reports to Microsoft or NCMEC."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from streams.events.base import Event
from streams.events.upload import Id


class MatchCount(Event):
    """Emitted to ``stats.matches`` each time a figure changes; the topic is compacted and keyed
    ``tenant/day`` or ``tenant/day/source``, so the newest record per key is the figure."""

    schema_name = "match_count"

    schema_version: Literal[1] = 1
    day: date = Field(description="UTC day of the verdicts' scanned_at.")
    tenant: Id
    source: str | None = Field(None, description="Match source (hash list); null: all sources.")
    matches: int = Field(ge=0, description="Match verdicts that day, each verdict_id once.")
    updated_at: AwareDatetime

    @property
    def key(self) -> bytes:
        parts = [self.tenant, self.day.isoformat()]
        if self.source is not None:
            parts.append(self.source)
        return "/".join(parts).encode()
