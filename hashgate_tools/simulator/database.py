"""The simulator's "known images": PDQ hashes of benign pictures, never the pictures.

Like Microsoft's integration environment, a hit here means "this is one of the test images",
so a platform can rehearse its whole match handling without touching real material.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hashgate_tools.simulator.images import PDQ_BITS, PdqHash

#: Match ids are numbers in the service's answers; ours count up from here.
FIRST_MATCH_ID = 100001

HexHash = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, pattern=rf"^[0-9a-fA-F]{{{PDQ_BITS // 4}}}$"
    ),
]


class DbEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    match_id: str = Field(min_length=1)
    pdq: HexHash
    source: str = "Test"
    violations: tuple[str, ...] = ("A1",)
    label: str = ""

    @property
    def hash(self) -> PdqHash:
        return PdqHash.from_hex(self.pdq)


class DbFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[DbEntry] = Field(default_factory=list)


class HashDatabase:
    """Entries plus a flat list of their hash bits, so a lookup is one pass of XOR/popcount."""

    def __init__(self, entries: list[DbEntry] | None = None) -> None:
        self._entries: list[DbEntry] = []
        self._bits: list[int] = []
        for entry in entries or []:
            self._append(entry)

    @classmethod
    def load(cls, path: Path) -> HashDatabase:
        """A missing file is an empty database, so ``add-image --db new.json`` can create one."""
        if not path.exists():
            return cls()
        return cls(DbFile.model_validate_json(path.read_bytes()).entries)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = DbFile(entries=list(self._entries)).model_dump(mode="json")
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    @property
    def entries(self) -> tuple[DbEntry, ...]:
        return tuple(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def next_match_id(self) -> str:
        numeric = [int(e.match_id) for e in self._entries if e.match_id.isdigit()]
        return str(max(numeric, default=FIRST_MATCH_ID - 1) + 1)

    def add(
        self,
        pdq: PdqHash,
        *,
        source: str = "Test",
        violations: tuple[str, ...] = ("A1",),
        label: str = "",
        match_id: str | None = None,
    ) -> DbEntry:
        entry = DbEntry(
            match_id=match_id or self.next_match_id(),
            pdq=pdq.hex,
            source=source,
            violations=violations,
            label=label,
        )
        self._append(entry)
        return entry

    def _append(self, entry: DbEntry) -> None:
        if any(existing.match_id == entry.match_id for existing in self._entries):
            raise ValueError(f"match_id {entry.match_id} is already in the database")
        self._entries.append(entry)
        self._bits.append(entry.hash.bits)

    def lookup(self, pdq: PdqHash, threshold: int) -> tuple[DbEntry, int] | None:
        """The nearest entry within ``threshold`` bits, or None."""
        best_index, best_distance = -1, threshold + 1
        for index, bits in enumerate(self._bits):
            distance = (bits ^ pdq.bits).bit_count()
            if distance < best_distance:
                best_index, best_distance = index, distance
        if best_index < 0:
            return None
        return self._entries[best_index], best_distance
