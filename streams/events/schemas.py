"""schemas/: JSON Schema per event and an AsyncAPI 3.0 document, generated from the models.

Platforms integrate against these files, so they are checked in, and a test regenerates them and
fails on any drift. Regenerate with ``hashgate schemas export``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from streams.events import (
    EVENT_MODELS,
    DlqReplayMark,
    Event,
    MatchCount,
    ModerationAction,
    ReportOutcome,
    RescanManifest,
    RescanOutcome,
    RescanRequest,
    ReviewAudit,
    ReviewDecision,
    ReviewRequest,
    ScanError,
    UploadEvent,
    Verdict,
)
from streams.rescan.records import progress_topic, replay_marks_topic, status_topic
from streams.settings import TopicSettings

ASYNCAPI_FILE = "asyncapi.yaml"
DEFAULT_DIR = Path("schemas")


@dataclass(frozen=True)
class Channel:
    """One topic: which setting names it, what it carries, who writes and who reads it."""

    setting: str
    model: type[Event]
    key: str
    description: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    #: For topics named after another one (the rescan status topics), not a setting of their own.
    address_of: Callable[[TopicSettings], str] | None = None

    def address(self, topics: TopicSettings) -> str:
        return self.address_of(topics) if self.address_of else str(getattr(topics, self.setting))


PLATFORMS = "platforms (upload services)"
SCAN_WORKER = "hashgate worker (scan agent)"
MODERATION = "hashgate moderation agent"
REPORTING = "hashgate reporting agent"
STATS = "hashgate stats agent"

CHANNELS: list[Channel] = [
    Channel(
        "uploads",
        UploadEvent,
        "content_id",
        "One event per uploaded image.",
        (PLATFORMS, "hashgate dlq replay"),
        (SCAN_WORKER,),
    ),
    Channel(
        "rescans",
        RescanRequest,
        "content_id",
        "Past uploads to scan again (own lane).",
        ("hashgate rescan",),
        (SCAN_WORKER,),
    ),
    Channel(
        "rescans_status",
        RescanManifest,
        "rescan_id",
        "Compacted: the manifest of each rescan run (selection, total, where outcomes start).",
        ("hashgate rescan start",),
        ("hashgate rescan status",),
        address_of=status_topic,
    ),
    Channel(
        "rescans_progress",
        RescanOutcome,
        "rescan_id",
        "One outcome per finished rescan request: match, clear, unchanged or error.",
        (SCAN_WORKER,),
        ("hashgate rescan status",),
        address_of=progress_topic,
    ),
    Channel(
        "verdicts_match",
        Verdict,
        "content_id",
        "Uploads that matched known images.",
        (SCAN_WORKER,),
        (MODERATION, REPORTING, STATS, "NCMEC-reporting services"),
    ),
    Channel(
        "verdicts_clear",
        Verdict,
        "content_id",
        "Uploads PhotoDNA answered as clear.",
        (SCAN_WORKER,),
        ("platforms (publish pipeline)",),
    ),
    Channel(
        "verdicts_latest",
        Verdict,
        "content_id",
        "Compacted: the last verdict per content id (for --only-changed rescans).",
        (SCAN_WORKER,),
        (SCAN_WORKER,),
    ),
    Channel(
        "scan_errors",
        ScanError,
        "original record key",
        "The DLQ: refused inputs, byte for byte, with a reason code.",
        (SCAN_WORKER,),
        ("operators", "hashgate dlq replay"),
    ),
    Channel(
        "scan_errors_replayed",
        DlqReplayMark,
        "DLQ partition/offset",
        "Compacted: the DLQ records already replayed, so no run replays one twice.",
        ("hashgate dlq replay",),
        ("hashgate dlq replay",),
        address_of=replay_marks_topic,
    ),
    Channel(
        "moderation_actions",
        ModerationAction,
        "content_id",
        "One event per action the moderation policy asks for; de-duplicate on action_id.",
        (MODERATION,),
        ("platforms (moderation tooling)",),
    ),
    Channel(
        "reports_review",
        ReviewRequest,
        "content_id",
        "NCMEC reports waiting for a human approve or reject.",
        (REPORTING,),
        ("operators (hashgate reports pending)",),
    ),
    Channel(
        "reports_decisions",
        ReviewDecision,
        "content_id",
        "Operators' review decisions.",
        ("hashgate reports approve|reject", "the reporting agent's review desk"),
        (REPORTING,),
    ),
    Channel(
        "reports_outcomes",
        ReportOutcome,
        "content_id",
        "Every outcome of a report: filed, rejected or failed.",
        (REPORTING,),
        ("operators", "compliance records", "hashgate reports pending"),
    ),
    Channel(
        "reports_audit",
        ReviewAudit,
        "actor",
        "Review desk audit trail: every login and failed login, image reveal and decision.",
        (REPORTING,),
        ("compliance records", "security monitoring"),
    ),
    Channel(
        "stats",
        MatchCount,
        "tenant/day or tenant/day/source",
        "Compacted: daily match counts per tenant and per tenant and source.",
        (STATS,),
        ("operators (aggregate usage reports)",),
    ),
    Channel(
        "downstream_errors",
        ScanError,
        "original record key",
        "DLQ of the downstream agents: refused records, byte for byte, with a reason code.",
        (MODERATION, REPORTING, STATS),
        ("operators",),
    ),
]


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
        name = channel.model.__name__
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (channel.model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "payload": {"$ref": f"./{schema_file(channel.model)}"},
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
