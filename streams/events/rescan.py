"""Rescan requests: past uploads sent through the scan again, in their own lane."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from streams.events.base import Event
from streams.events.upload import Id, UploadEvent


class RescanRequest(Event):
    """Published by ``hashgate rescan`` to ``content.rescans``; key ``content_id``."""

    schema_name = "rescan_request"

    schema_version: Literal[1] = 1
    rescan_id: Id = Field(description="Names the rescan; verdict ids derive from it.")
    requested_at: AwareDatetime
    only_changed: bool = Field(
        False, description="Emit a verdict only if it differs from the content's last one."
    )
    upload: UploadEvent = Field(description="The original upload event, unchanged.")
