"""``hashgate banks``: load, disable and remove local hash bank entries on the banks topic.

Workers follow the topic (a compacted one), so a change reaches every worker's index within
seconds of the command's return; the command returns once Kafka confirmed every record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import click

from streams.events.topics import declared
from streams.kafka.confirmed import windowed_writer
from streams.kafka.spans import read_to_end
from streams.kafka.topics import ensure_topics
from streams.observability.logging import configure_logging
from streams.savers.bank_files import BankFileError, BankFormat, read_entries
from streams.savers.bank_records import (
    ENTRY_PREFIX,
    BankEntry,
    BankRecord,
    BankSettings,
    bank_key,
    decode_record,
)
from streams.settings import Settings, load_settings

Change = tuple[bytes, bytes | None]  # key, value (None: a tombstone)


@click.group("banks")
def banks_command() -> None:
    """Local hash banks matched beside PhotoDNA (bytes mode, HASHGATE_BANKS__ENABLED)."""


@banks_command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bank", "bank", required=True, help="The bank's name.")
@click.option(
    "--format",
    "file_format",
    type=click.Choice([f.value for f in BankFormat]),
    default=BankFormat.CSV.value,
    show_default=True,
)
@click.option("--call-photodna/--no-call-photodna", default=False, show_default=True)
@click.option("--report-to-ncmec/--no-report-to-ncmec", default=False, show_default=True)
def import_command(
    file: Path, bank: str, file_format: str, call_photodna: bool, report_to_ncmec: bool
) -> None:
    """Add FILE's entries to BANK (enabled), and set the bank's settings."""
    settings = _settings()
    try:
        entries = read_entries(file.read_text("utf-8"), bank, BankFormat(file_format))
        header = BankSettings(
            name=bank, call_photodna=call_photodna, report_to_ncmec=report_to_ncmec
        )
    except (BankFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    changes = [(header.key, header.encode()), *((e.key, e.encode()) for e in entries)]
    asyncio.run(_write(settings, changes))
    click.echo(f"bank {bank}: {len(entries)} entries imported")


@banks_command.command("disable")
@click.option("--bank", "bank", required=True)
@click.option("--entry", "entry_ids", multiple=True, help="Only these entries (repeatable).")
def disable_command(bank: str, entry_ids: tuple[str, ...]) -> None:
    """Stop matching BANK (or some of its entries); they stay on the topic."""
    settings = _settings()
    current, found = _bank_and_entries(settings, bank, entry_ids)
    if entry_ids:
        changes = [(e.key, e.model_copy(update={"enabled": False}).encode()) for e in found]
    else:
        header = (current or BankSettings(name=bank)).model_copy(update={"enabled": False})
        changes = [(header.key, header.encode())]
    asyncio.run(_write(settings, changes))
    click.echo(f"bank {bank}: {len(entry_ids) or 'all'} entries disabled")


@banks_command.command("remove")
@click.option("--bank", "bank", required=True)
@click.option("--entry", "entry_ids", multiple=True, help="Only these entries (repeatable).")
def remove_command(bank: str, entry_ids: tuple[str, ...]) -> None:
    """Delete BANK (or some of its entries) from the topic."""
    settings = _settings()
    _, found = _bank_and_entries(settings, bank, entry_ids)
    changes: list[Change] = [(e.key, None) for e in found]
    if not entry_ids:
        changes.append((bank_key(bank), None))
    asyncio.run(_write(settings, changes))
    click.echo(f"bank {bank}: {len(found)} entries removed")


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.log_level, settings.secrets())
    return settings


def _bank_and_entries(
    settings: Settings, bank: str, entry_ids: tuple[str, ...]
) -> tuple[BankSettings | None, list[BankEntry]]:
    """The bank's settings record (None if it has none) and its entries: those named, or all."""
    records = asyncio.run(_bank_records(settings, bank))
    header = next((r for r in records if isinstance(r, BankSettings)), None)
    if entry_ids:
        return header, _entries_named(records, bank, entry_ids)
    return header, [r for r in records if isinstance(r, BankEntry)]


def _entries_named(records: list[BankRecord], bank: str, ids: tuple[str, ...]) -> list[BankEntry]:
    entries = {r.entry_id: r for r in records if isinstance(r, BankEntry)}
    if missing := sorted(set(ids) - set(entries)):
        raise click.ClickException(f"bank {bank} has no entries {', '.join(missing)}")
    return [entries[i] for i in ids]


async def _bank_records(settings: Settings, bank: str) -> list[BankRecord]:
    """What the topic holds now for ``bank``: its settings and its entries."""
    latest: dict[bytes, bytes | None] = {}
    for record in await read_to_end(settings.kafka, [settings.banks.topic], within_s=60):
        latest[record.key or b""] = record.value
    mine = (bank_key(bank), f"{ENTRY_PREFIX}{bank}:".encode())
    return [
        decode_record(value)
        for key, value in sorted(latest.items())
        if value is not None and (key == mine[0] or key.startswith(mine[1]))
    ]


async def _write(settings: Settings, changes: Sequence[Change]) -> None:
    await ensure_topics(settings, declared(settings, "banks.topic"))
    async with windowed_writer(settings) as writer:
        for key, value in changes:
            await writer.write(settings.banks.topic, key, value, [])
