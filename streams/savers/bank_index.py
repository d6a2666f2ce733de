"""Every worker's view of the banks topic, matched with Meta's threatexchange indexes.

PDQ goes through threatexchange's faiss-backed ``PDQIndex2`` (Hamming distance up to the
configured threshold), MD5 and SHA-256 through its exact-match index. The topic's records
arrive one by one (``apply``); the indexes are rebuilt on the next lookup after a change, as
threatexchange's indexes cannot drop an entry. Needs the ``banks`` extra (threatexchange).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

from pydantic import ValidationError
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.pdq_index2 import PDQIndex2
from threatexchange.signal_type.pdq.signal import PdqSignal
from threatexchange.signal_type.sha256 import VideoSHA256Signal
from threatexchange.signal_type.signal_base import TrivialSignalTypeIndex

from streams.events import BankMatch
from streams.savers.bank_records import (
    BANK_PREFIX,
    BankEntry,
    BankSettings,
    SignalKind,
    decode_record,
)

log = logging.getLogger(__name__)

BANK_KEY_PREFIX = BANK_PREFIX.encode()

#: threatexchange's confident-match distance for PDQ.
DEFAULT_PDQ_THRESHOLD = 31


class BankIndex:
    """The enabled entries of the enabled banks, by signal; thread-safe (lookups hash off-loop)."""

    def __init__(self, *, pdq_threshold: int = DEFAULT_PDQ_THRESHOLD) -> None:
        self.pdq_threshold = pdq_threshold
        self._banks: dict[str, BankSettings] = {}
        self._entries: dict[bytes, BankEntry] = {}
        self._lock = threading.Lock()
        self._built: dict[SignalKind, _Index] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def entries_per_bank(self) -> dict[str, int]:
        """Entries that can match now (enabled, in an enabled bank), per bank."""
        with self._lock:
            counts = Counter(e.bank for e in self._live_entries())
        return dict(counts)

    def apply(self, key: bytes, value: bytes | None) -> None:
        """One record of the banks topic: a bank's settings, an entry, or a tombstone."""
        with self._lock:
            self._built = None
            if value is None:
                self._entries.pop(key, None)
                if key.startswith(BANK_KEY_PREFIX):
                    self._banks.pop(key[len(BANK_KEY_PREFIX) :].decode(errors="replace"), None)
                return
            try:
                record = decode_record(value)
            except ValidationError:
                log.warning("banks topic record ignored: not a bank or an entry", exc_info=True)
                return
            if isinstance(record, BankSettings):
                self._banks[record.name] = record
            else:
                self._entries[key] = record

    def settings_of(self, bank: str) -> BankSettings:
        """A bank known only by its entries matches, calls nothing and reports nothing."""
        with self._lock:
            return self._banks.get(bank) or BankSettings(name=bank)

    def lookup(self, data: bytes) -> list[BankMatch]:
        """The entries the image's bytes match, closest first."""
        with self._lock:
            indexes = self._indexes()
            banks = dict(self._banks)
        matches: list[BankMatch] = []
        for kind, index in indexes.items():
            digest = _digest(kind, data)
            if not digest:  # PDQ refuses images too flat to hash reliably
                continue
            for found in index.query(digest):
                entry: BankEntry = found.metadata
                distance = getattr(found.similarity_info, "distance", None)
                bank = banks.get(entry.bank) or BankSettings(name=entry.bank)
                matches.append(
                    BankMatch(
                        bank=entry.bank,
                        entry_id=entry.entry_id,
                        signal=kind.value,
                        distance=None if kind is not SignalKind.PDQ else int(distance or 0),
                        report_to_ncmec=bank.report_to_ncmec,
                    )
                )
        return sorted(matches, key=lambda m: (m.distance or 0, m.bank, m.entry_id))

    def _indexes(self) -> dict[SignalKind, _Index]:
        if self._built is None:
            live = self._live_entries()
            built: dict[SignalKind, _Index] = {}
            for kind in SignalKind:
                pairs = [(e.hash, e) for e in live if e.signal is kind]
                if pairs:
                    built[kind] = self._new_index(kind)
                    built[kind].add_all(pairs)
            self._built = built
        return self._built

    def _live_entries(self) -> list[BankEntry]:
        """Entries that can match: enabled, in a bank that is enabled (or has no settings
        record). The caller holds the lock."""
        return [
            e
            for e in self._entries.values()
            if e.enabled and self._banks.get(e.bank, BankSettings(name=e.bank)).enabled
        ]

    def _new_index(self, kind: SignalKind) -> _Index:
        if kind is SignalKind.PDQ:
            return PDQIndex2(threshold=self.pdq_threshold)
        return TrivialSignalTypeIndex()


_Index = PDQIndex2[BankEntry] | TrivialSignalTypeIndex[BankEntry]


def _digest(kind: SignalKind, data: bytes) -> str:
    """The image's hash of ``kind``; empty if PDQ cannot decode it (the exact hashes still run,
    and PhotoDNA, which decodes it itself, still answers)."""
    try:
        return _HASHERS[kind](data)
    except (OSError, ValueError):  # Pillow's UnidentifiedImageError is an OSError
        log.warning("PDQ could not hash an image; its exact hashes are still matched")
        return ""


_HASHERS = {
    SignalKind.PDQ: PdqSignal.hash_from_bytes,
    SignalKind.MD5: VideoMD5Signal.hash_from_bytes,
    SignalKind.SHA256: VideoSHA256Signal.hash_from_bytes,
}
