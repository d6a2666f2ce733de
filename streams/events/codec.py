"""faust codecs for the pydantic events: faust knows only its own Record models."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from streams.events.base import Event


class PydanticCodec(codecs.Codec):
    """Encodes one event model as its JSON; decoding validates and names the bad field."""

    def __init__(self, children: Any = None, *, model: type[Event]) -> None:
        super().__init__(children, model=model)
        self.model = model

    def _dumps(self, obj: Any) -> bytes:
        if not isinstance(obj, self.model):
            raise TypeError(f"codec {self.model.schema_name!r} cannot encode {type(obj).__name__}")
        return obj.encode()

    def _loads(self, s: bytes) -> Event:
        return self.model.decode(s)


def codec_name(model: type[Event]) -> str:
    return f"hashgate.{model.schema_name}"


def register_codecs(models: tuple[type[Event], ...]) -> None:
    """Make each model usable as ``value_serializer=codec_name(model)`` on a faust topic."""
    for model in models:
        codecs.register(codec_name(model), PydanticCodec(model=model))
