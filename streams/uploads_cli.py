"""``hashgate uploads publish URL``: one valid UploadEvent on the uploads topic, as a platform
would send it, and (with ``--wait``) the verdict or DLQ record it got.

For a first run and for smoke tests: writing the event's JSON and a kcat command by hand was
the slowest step from clone to a first own verdict. Platforms publish with their own producers.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from streams.errors import EventDecodeError
from streams.events import ScanError, Uploader, UploadEvent, Verdict
from streams.observability.logging import configure_logging
from streams.rescan.kafka_io import partitions_of
from streams.rescan.kafka_io import reader as kafka_reader
from streams.rescan.kafka_io import sender as kafka_sender
from streams.settings import Settings, load_settings
from streams.topics import ensure_topics, worker_topics


@dataclass(frozen=True)
class Outcome:
    """What the worker made of the upload: a verdict or a DLQ record."""

    topic: str
    verdict: Verdict | None = None
    error: ScanError | None = None

    def describe(self) -> str:
        if self.verdict is not None:
            v = self.verdict
            sources = ", ".join(f"{m.source} {','.join(m.violations)}" for m in v.matches)
            return (
                f"verdict {v.verdict.value}"
                + (f" ({sources})" if sources else "")
                + (f", PhotoDNA tracking id {v.tracking_id}, on {self.topic}")
            )
        assert self.error is not None
        return f"dead-lettered: {self.error.reason.value}: {self.error.detail}, on {self.topic}"

    def as_dict(self) -> dict[str, object]:
        record = self.verdict or self.error
        assert record is not None
        return {"topic": self.topic, "record": json.loads(record.encode())}


def build_upload(
    url: str, *, tenant: str, content_id: str | None, account: str | None
) -> UploadEvent:
    event_id = f"evt-{uuid.uuid4().hex[:16]}"
    try:
        return UploadEvent(
            event_id=event_id,
            tenant=tenant,
            content_id=content_id or f"content-{uuid.uuid4().hex[:12]}",
            media_url=url,
            uploaded_at=datetime.now(UTC),
            uploader=Uploader(account_id=account) if account else None,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.BadParameter(problems) from None


async def _ends(consumer: AIOKafkaConsumer, settings: Settings) -> dict[TopicPartition, int]:
    topics = settings.topics
    tps = [
        TopicPartition(topic, p)
        for topic in (topics.verdicts_match, topics.verdicts_clear, topics.scan_errors)
        for p in await partitions_of(settings, topic)
    ]
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    return ends


def _outcome_of(topic: str, value: bytes, settings: Settings, event_id: str) -> Outcome | None:
    try:
        if topic == settings.topics.scan_errors:
            error = ScanError.decode(value)
            return Outcome(topic, error=error) if error.event_id == event_id else None
        verdict = Verdict.decode(value)
    except EventDecodeError:  # someone else's bad record: not ours to judge here
        return None
    return Outcome(topic, verdict=verdict) if verdict.event_id == event_id else None


async def publish_upload(
    settings: Settings, event: UploadEvent, *, wait_s: float | None
) -> Outcome | None:
    """Publish ``event`` (creating the worker's topics first if missing); with ``wait_s``,
    return its outcome, read from the output topics' ends as they were before publishing."""
    await ensure_topics(settings, worker_topics(settings))
    async with kafka_reader(settings) as consumer:
        ends = await _ends(consumer, settings) if wait_s is not None else {}
        async with kafka_sender(settings) as sender:
            await sender.send(settings.topics.uploads, event.key, event.encode(), [])
        if wait_s is None:
            return None
        consumer.assign(list(ends))
        for tp, offset in ends.items():
            consumer.seek(tp, offset)
        try:
            async with asyncio.timeout(wait_s):
                while True:
                    batches = await consumer.getmany(timeout_ms=500)
                    for tp, records in batches.items():
                        for record in records:
                            found = _outcome_of(tp.topic, record.value, settings, event.event_id)
                            if found is not None:
                                return found
        except TimeoutError:
            raise click.ClickException(
                f"no verdict for {event.event_id} within {wait_s:g} s: is `hashgate worker` "
                "running with the same HASHGATE_KAFKA__* and HASHGATE_TOPICS__* settings?"
            ) from None


@click.group("uploads")
def uploads_command() -> None:
    """Publish upload events by hand (first runs, smoke tests)."""


@uploads_command.command("publish")
@click.argument("url")
@click.option("--tenant", default="demo", show_default=True, help="The upload's tenant.")
@click.option("--content-id", help="The platform's content id (default: a new one).")
@click.option("--account", help="The uploader's account id (moderation acts on it).")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait for the verdict or DLQ record and print it.",
)
@click.option("--timeout", "timeout_s", default=60.0, show_default=True, help="Seconds to wait.")
@click.option("--json", "as_json", is_flag=True, help="Print the event and outcome as JSON.")
def publish_command(
    url: str,
    tenant: str,
    content_id: str | None,
    account: str | None,
    wait: bool,
    timeout_s: float,
    as_json: bool,
) -> None:
    """Publish one UploadEvent for the image at URL to the uploads topic."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.secrets())
    event = build_upload(url, tenant=tenant, content_id=content_id, account=account)
    outcome = asyncio.run(publish_upload(settings, event, wait_s=timeout_s if wait else None))
    if as_json:
        result = {"event": json.loads(event.encode())}
        if outcome is not None:
            result["outcome"] = outcome.as_dict()
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"published {event.event_id} (tenant {event.tenant}, content {event.content_id}) "
        f"to {settings.topics.uploads}"
    )
    if outcome is not None:
        click.echo(outcome.describe())
