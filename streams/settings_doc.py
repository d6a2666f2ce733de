"""The configuration reference, generated from the settings model so the docs cannot drift.

Operators configure hashgate only through environment variables, so docs/configuration.md
lists every one of them. Writing that list by hand would rot the first time someone adds a
field; rendering it from ``Settings`` (names, types, defaults, Field descriptions) and checking
it in CI does not.
Secret fields never show a value, not even a default.
"""

from __future__ import annotations

import enum
import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import click
from pydantic import AnyHttpUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from streams.readme_blocks import ReadmeBlock
from streams.readme_blocks import doc_command as readme_doc_command
from streams.settings import Settings, env_var_name

BLOCK = ReadmeBlock("config-table", "hashgate settings doc --write docs/configuration.md")
SECRET_DEFAULT = "(secret, no default)"

_TYPE_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "file path",
    SecretStr: "secret string",
    AnyHttpUrl: "URL",
}
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


@dataclass(frozen=True)
class SettingDoc:
    """One environment variable as the reference shows it."""

    env_var: str
    type: str
    default: str
    description: str


def _without_none(annotation: Any) -> Any:
    """``X | None`` reads as X: "unset" shows in the default column instead."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _is_secret(field: FieldInfo) -> bool:
    return _without_none(field.annotation) is SecretStr


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return f"JSON list of {_type_name(item)}"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(field: FieldInfo) -> list[str]:
    rules: list[str] = []
    for meta in field.metadata:
        for attribute, symbol in _BOUNDS:
            bound = getattr(meta, attribute, None)
            if bound is not None:
                rules.append(f"{symbol} {bound}")
        pattern = getattr(meta, "pattern", None)
        if pattern is not None:
            rules.append(f"matching `{pattern}`")
    return rules


def _render_type(field: FieldInfo) -> str:
    return ", ".join([_type_name(_without_none(field.annotation)), *_constraints(field)])


def _render_default(field: FieldInfo) -> str:
    if _is_secret(field):
        return SECRET_DEFAULT
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "(unset)"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool | list):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def _walk(model: type[BaseModel], path: tuple[str, ...]) -> Iterator[SettingDoc]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _walk(annotation, (*path, name))
            continue
        yield SettingDoc(
            env_var=env_var_name((*path, name)),
            type=_render_type(field),
            default=_render_default(field),
            description=field.description or "",
        )


def settings_docs() -> list[SettingDoc]:
    """Every environment variable the settings model reads, in declaration order."""
    return list(_walk(Settings, ()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def settings_table() -> str:
    """The Markdown table of every setting, as it appears in docs/configuration.md."""
    lines = [
        "| Variable | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    for doc in settings_docs():
        cells = (f"`{doc.env_var}`", doc.type, doc.default, doc.description)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


@click.group("settings")
def settings_command() -> None:
    """Inspect hashgate's configuration."""


settings_command.add_command(
    readme_doc_command(
        BLOCK,
        settings_table,
        "Print the Markdown reference of every HASHGATE_* environment variable.",
    )
)
