"""The events reference (docs/events.md), rendered from the same JSON Schemas as schemas/.

Integrators read the reference before the schema files; a hand-written field list would drift from
the models the first time one changes. This renders the topic table from ``CHANNELS`` and the
field tables from ``json_schema(model)``, and ``hashgate schemas doc --check`` fails in CI when
the copy in docs/events.md is stale.
"""

from __future__ import annotations

import json
from typing import Any

from streams.events import EVENT_MODELS, Event
from streams.events.schemas import CHANNELS, json_schema, schema_file
from streams.readme_blocks import ReadmeBlock
from streams.readme_blocks import doc_command as readme_doc_command
from streams.settings import TopicSettings

BLOCK = ReadmeBlock("events", "hashgate schemas doc --write docs/events.md")

Schema = dict[str, Any]

INTRO = (
    "Generated from the event models, the same source as the JSON Schemas in `schemas/`, by "
    "`hashgate schemas doc --write docs/events.md`; a test fails when this section drifts from the "
    "models. Every value is one JSON object; `schema_version` is required on the wire and "
    "unknown fields are refused, so a newer producer's record goes to the DLQ as "
    "`unsupported_schema_version` or `invalid_event` instead of being half-understood. Topic "
    "names are the defaults (`HASHGATE_TOPICS__*`). `schemas/asyncapi.yaml` describes the same "
    "topics for AsyncAPI tooling."
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return f"[{name}](#{name.lower()})"


def _ref_name(node: Schema) -> str:
    return str(node["$ref"]).rsplit("/", 1)[-1]


def _constraints(node: Schema) -> str:
    low, high = node.get("minLength"), node.get("maxLength")
    if low is not None or high is not None:
        return f", {low or 0}-{high} chars" if high is not None else f", at least {low} chars"
    bounds = [
        f"{symbol} {node[key]}"
        for key, symbol in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if key in node
    ]
    return f", {' and '.join(bounds)}" if bounds else ""


def _enum(values: list[Any]) -> str:
    return "one of " + ", ".join(f"`{value}`" for value in values)


def type_text(node: Schema, defs: dict[str, Schema]) -> str:
    """A JSON Schema node in words: ``string (date-time)``, ``array of MatchDetail``..."""
    if "$ref" in node:
        name = _ref_name(node)
        target = defs.get(name, {})
        return _enum(target["enum"]) if "enum" in target else _anchor(name)
    if "anyOf" in node:
        options = [option for option in node["anyOf"] if option != {"type": "null"}]
        text = " or ".join(type_text(option, defs) for option in options)
        return text + " or null" if len(options) < len(node["anyOf"]) else text
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return _enum(node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return f"array of {type_text(node.get('items', {}), defs)}"
    if kind == "object":
        extra = node.get("additionalProperties")
        return f"object of {type_text(extra, defs)}" if isinstance(extra, dict) else "object"
    text = f"{kind} ({node['format']})" if "format" in node else str(kind)
    return text + _constraints(node)


def _required_text(name: str, node: Schema, required: list[str]) -> str:
    if name in required:
        return "yes"
    if "default" in node:
        return f"no (default `{json.dumps(node['default'])}`)"
    return "no"


def _description(node: Schema, defs: dict[str, Schema]) -> str:
    if node.get("description"):
        return str(node["description"])
    refs = [node, *node.get("anyOf", [])]
    for ref in refs:
        if "$ref" in ref:
            return str(defs.get(_ref_name(ref), {}).get("description", ""))
    return ""


def fields_table(schema: Schema, defs: dict[str, Schema]) -> list[str]:
    lines = ["| Field | Type | Required | Description |", "| --- | --- | --- | --- |"]
    required = schema.get("required", [])
    for name, node in schema.get("properties", {}).items():
        cells = (
            f"`{name}`",
            type_text(node, defs),
            _required_text(name, node, required),
            _description(node, defs),
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def topics_table(topics: TopicSettings) -> list[str]:
    lines = [
        "| Topic | Event | Key | Producers | Consumers | Carries |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for channel in CHANNELS:
        cells = (
            f"`{channel.address(topics)}`",
            _anchor(channel.event.__name__),
            channel.key if " " in channel.key else f"`{channel.key}`",
            ", ".join(channel.producers),
            ", ".join(channel.consumers),
            channel.description,
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return lines


def _summary(model: type[Event]) -> str:
    """The docstring's first paragraph, on one line."""
    return " ".join((model.__doc__ or "").strip().split("\n\n")[0].split()).replace("``", "`")


def _model_section(model: type[Event]) -> tuple[list[str], dict[str, Schema]]:
    schema = json_schema(model)
    defs: dict[str, Schema] = schema.get("$defs", {})
    lines = [
        f"#### {model.__name__}",
        "",
        f"{_summary(model)} Schema: `schemas/{schema_file(model)}`.",
        "",
        *fields_table(schema, defs),
        "",
    ]
    return lines, defs


def markdown_reference(topics: TopicSettings | None = None) -> str:
    """The whole events section of docs/events.md, between its markers."""
    topics = topics or TopicSettings()
    lines = [INTRO, "", "### Topics", "", *topics_table(topics), "", "### Event models", ""]
    shared: dict[str, Schema] = {}
    for model in EVENT_MODELS:
        section, defs = _model_section(model)
        lines += section
        shared.update(defs)
    top_level = {model.__name__ for model in EVENT_MODELS}
    nested = sorted(
        name for name, node in shared.items() if "properties" in node and name not in top_level
    )
    if nested:
        lines += ["### Nested types", ""]
    for name in nested:
        node = shared[name]
        lines += [f"#### {name}", ""]
        if node.get("description"):
            lines += [str(node["description"]), ""]
        lines += [*fields_table(node, shared), ""]
    return "\n".join(lines)


doc_command = readme_doc_command(
    BLOCK, markdown_reference, "Print the Markdown reference of hashgate's topics and event fields."
)
