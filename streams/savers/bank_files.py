"""Reads bank files into entries: hashgate's CSV, HMA's bank content export, ThreatExchange's.

- ``csv``: a header with ``signal`` (pdq, md5, sha256), ``hash`` and optionally ``id``.
- ``hma``: HMA (OpenMediaMatch) bank content as JSON, a list or one object per line, each with
  ``id``, ``signals`` (signal type name to hash) and optionally ``enabled``.
- ``threatexchange``: ``threatexchange dataset --csv`` (``signal_type,signal_str,...``) or its
  plain ``signal_type signal_str`` lines.

Signal type names follow threatexchange's (``pdq``, ``video_md5``, ``video_sha256``) as well as
the short ones. A row hashgate cannot read stops the import: a bank loaded in part would match
less than its owner thinks.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from streams.savers.bank_records import BankEntry, SignalKind

SIGNAL_NAMES = {
    "pdq": SignalKind.PDQ,
    "md5": SignalKind.MD5,
    "video_md5": SignalKind.MD5,
    "sha256": SignalKind.SHA256,
    "video_sha256": SignalKind.SHA256,
}


class BankFormat(StrEnum):
    CSV = "csv"
    HMA = "hma"
    THREATEXCHANGE = "threatexchange"


class BankFileError(ValueError):
    """A row that is not an entry; says which."""


def read_entries(text: str, bank: str, file_format: BankFormat) -> list[BankEntry]:
    rows = {
        BankFormat.CSV: _csv_rows,
        BankFormat.HMA: _hma_rows,
        BankFormat.THREATEXCHANGE: _threatexchange_rows,
    }[file_format](text)
    return [
        _entry(bank, where, signal, digest, entry_id) for where, signal, digest, entry_id in rows
    ]


Row = tuple[str, str, str, str | None]  # where, signal name, hash, entry id


def _entry(bank: str, where: str, signal: str, digest: str, entry_id: str | None) -> BankEntry:
    kind = SIGNAL_NAMES.get(signal.strip().lower())
    if kind is None:
        raise BankFileError(f"{where}: unknown signal type {signal!r}")
    digest = digest.strip().lower()
    try:
        return BankEntry(
            bank=bank,
            entry_id=entry_id or _derived_id(kind, digest),
            signal=kind,
            hash=digest,
        )
    except ValidationError as exc:
        raise BankFileError(f"{where}: {exc.errors()[0]['msg']}") from exc


def _derived_id(kind: SignalKind, digest: str) -> str:
    """A file without ids: the same hash gets the same id, so importing again adds nothing."""
    return f"{kind.value}-{hashlib.sha256(digest.encode()).hexdigest()[:16]}"


def _csv_rows(text: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"signal", "hash"} <= set(reader.fieldnames):
        raise BankFileError("line 1: a CSV bank needs the columns signal and hash (id optional)")
    for line, row in enumerate(reader, start=2):
        yield f"line {line}", row["signal"] or "", row["hash"] or "", row.get("id") or None


def _hma_rows(text: str) -> Iterator[Row]:
    stripped = text.strip()
    try:
        items: list[Any] = (
            json.loads(stripped)
            if stripped.startswith("[")
            else [json.loads(line) for line in stripped.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise BankFileError(f"not HMA bank content JSON: {exc}") from exc
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("signals"), dict):
            raise BankFileError(f"item {number}: no signals")
        if item.get("enabled", True) is False:
            continue
        for signal, digest in sorted(item["signals"].items()):
            entry_id = f"{item['id']}-{signal}" if "id" in item else None
            yield f"item {number}", signal, str(digest), entry_id


def _threatexchange_rows(text: str) -> Iterator[Row]:
    lines = text.splitlines()
    if lines and lines[0].startswith("signal_type,"):
        for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            yield f"line {line}", row["signal_type"] or "", row["signal_str"] or "", None
        return
    for line, content in enumerate(lines, start=1):
        if not content.strip():
            continue
        parts = content.split()
        if len(parts) < 2:
            raise BankFileError(f"line {line}: expected 'signal_type signal_str'")
        yield f"line {line}", parts[0], parts[1], None
