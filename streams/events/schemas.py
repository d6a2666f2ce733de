"""schemas/: JSON Schema per event and an AsyncAPI 3.0 document, generated from the models.

Platforms integrate against these files, so they are checked in, and a test regenerates them and
fails on any drift. Regenerate with ``hashgate schemas export``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from streams.events import EVENT_MODELS, Event
from streams.events.topics import REGISTRY, SCAN_WORKER, Topic
from streams.settings import TopicSettings

ASYNCAPI_FILE = "asyncapi.yaml"
DEFAULT_DIR = Path("schemas")


#: The topics other systems integrate with: the registry without hashgate's own plumbing.
CHANNELS: tuple[Topic, ...] = tuple(topic for topic in REGISTRY if not topic.internal)


def schema_file(model: type[Event]) -> str:
    version = model.model_fields["schema_version"].default
    return f"{model.schema_name}.v{version}.json"


def json_schema(model: type[Event]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://hashgate.dev/schemas/{schema_file(model)}",
        **schema,
    }


def asyncapi_document(topics: TopicSettings | None = None) -> dict[str, Any]:
    topics = topics or TopicSettings()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel in CHANNELS:
        name = channel.event.__name__
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (channel.event.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"./{schema_file(channel.event)}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": channel.key}}},
        }
        channels[channel.setting] = {
            "address": channel.address(topics),
            "description": channel.description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "x-producers": list(channel.producers),
            "x-consumers": list(channel.consumers),
        }
        ref = {"$ref": f"#/channels/{channel.setting}"}
        msg_ref = [{"$ref": f"#/channels/{channel.setting}/messages/{name}"}]
        if SCAN_WORKER in channel.consumers:
            operations[f"scanWorkerReceives_{channel.setting}"] = {
                "action": "receive",
                "channel": ref,
                "messages": msg_ref,
            }
        if SCAN_WORKER in channel.producers:
            operations[f"scanWorkerSends_{channel.setting}"] = {
                "action": "send",
                "channel": ref,
                "messages": msg_ref,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "hashgate",
            "version": "1.0.0",
            "description": "Topics of hashgate, the PhotoDNA stream processor. Topic names are "
            "the defaults; each is configurable (HASHGATE_TOPICS__*).",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered_files() -> dict[str, str]:
    """File name -> exact text, as ``export`` writes it."""
    files = {
        schema_file(model): json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n"
        for model in EVENT_MODELS
    }
    files[ASYNCAPI_FILE] = yaml.safe_dump(asyncapi_document(), sort_keys=False, width=100)
    return files


def drift(directory: Path) -> list[str]:
    """Names of files in ``directory`` that differ from what the models generate."""
    return [
        name
        for name, text in rendered_files().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


@click.group("schemas")
def schemas_command() -> None:
    """JSON Schemas and the AsyncAPI document of hashgate's topics."""


@schemas_command.command("export")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=DEFAULT_DIR,
    show_default=True,
    help="Where to write the files.",
)
def export(directory: Path) -> None:
    """Write schemas/ from the event models."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_files().items():
        (directory / name).write_text(text)
        click.echo(f"wrote {directory / name}")


@schemas_command.command("check")
@click.option(
    "--dir", "directory", type=click.Path(path_type=Path), default=DEFAULT_DIR, show_default=True
)
def check(directory: Path) -> None:
    """Exit 1 if schemas/ differs from the models."""
    stale = drift(directory)
    if stale:
        raise click.ClickException(
            f"out of date: {', '.join(stale)}; run `hashgate schemas export`"
        )
    click.echo("schemas are up to date")
