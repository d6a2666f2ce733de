"""What every hashgate event shares: a schema version, strictness, and a stable JSON form."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from streams.errors import EventDecodeError, ReasonCode


class Event(BaseModel):
    """Base of all events on hashgate's topics.

    Subclasses declare ``schema_version: Literal[N]`` so that a record from a newer producer is
    refused by name instead of being half-understood.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        ser_json_bytes="base64",
        val_json_bytes="base64",
        json_schema_extra=lambda schema: _require_schema_version(schema),
    )

    #: Name of the event's JSON Schema file in schemas/.
    schema_name: ClassVar[str]

    @classmethod
    def decode(cls, data: bytes | str) -> Self:
        """Parse one record's value; failures name the field and carry a DLQ reason code."""
        try:
            event = cls.model_validate_json(data)
        except ValidationError as exc:
            raise _decode_error(cls, exc) from None
        if "schema_version" not in event.model_fields_set:
            # Defaulted for code that builds events, but on the wire producers must say it.
            raise EventDecodeError(
                f"{cls.__name__}: field 'schema_version': Field required",
                reason=ReasonCode.INVALID_EVENT,
                field="schema_version",
            )
        return event

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


def _require_schema_version(schema: dict[str, Any]) -> None:
    """On the wire the version is required, though Python code may leave it defaulted."""
    required = schema.setdefault("required", [])
    if "schema_version" not in required:
        required.insert(0, "schema_version")


def _decode_error(cls: type[Event], exc: ValidationError) -> EventDecodeError:
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    if first["type"] == "json_invalid":
        reason = ReasonCode.UNDECODABLE
    elif field == "schema_version" and first["type"] != "missing":
        reason = ReasonCode.UNSUPPORTED_SCHEMA_VERSION
    else:
        reason = ReasonCode.INVALID_EVENT
    where = f"field {field!r}" if field else "record"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return EventDecodeError(
        f"{cls.__name__}: {where}: {first['msg']}{more}", reason=reason, field=field
    )
