"""The event every platform publishes for an uploaded image."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, IPvAnyAddress

from streams.events.base import Event

Id = Annotated[str, Field(min_length=1, max_length=256)]


class Uploader(BaseModel):
    """Who uploaded: what moderation acts on and an NCMEC report needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_id: Id | None = None
    ip: IPvAnyAddress | None = None


class UploadEvent(Event):
    """One uploaded image to check. Key on Kafka: ``content_id``."""

    schema_name = "upload_event"

    schema_version: Literal[1] = 1
    event_id: Id = Field(description="Unique per upload event; stable across re-publishes.")
    tenant: Id = Field(description="The platform or customer the upload belongs to.")
    content_id: Id = Field(description="The platform's id of the content; the Kafka key.")
    media_url: HttpUrl = Field(description="Where the image can be downloaded (http/https).")
    media_type: str | None = Field(None, description="MIME type the platform claims, if known.")
    uploaded_at: AwareDatetime = Field(description="When the platform received the upload.")
    uploader: Uploader | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form, passed on.")

    @property
    def key(self) -> bytes:
        return self.content_id.encode()
