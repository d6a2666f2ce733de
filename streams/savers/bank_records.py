"""The records of the banks topic: a compacted topic that holds every bank and its entries.

One record per bank (its settings) and one per entry; a tombstone removes either. Every worker
reads the whole topic into its index, so what the topic holds is what the fleet matches.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

BANK_PREFIX = "bank:"
ENTRY_PREFIX = "entry:"
#: Bank names and entry ids stay printable and free of the key separator.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class SignalKind(StrEnum):
    PDQ = "pdq"
    MD5 = "md5"
    SHA256 = "sha256"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


class BankSettings(_Record):
    """Per bank, because a bank of the platform's own past decisions is not a CSAM list."""

    kind: Literal["bank"] = "bank"
    name: str = Field(pattern=NAME_PATTERN)
    call_photodna: bool = Field(
        False, description="Also ask PhotoDNA on a match, for its classification."
    )
    report_to_ncmec: bool = Field(False, description="Its matches go to NCMEC reporting.")
    enabled: bool = True

    @property
    def key(self) -> bytes:
        return bank_key(self.name)


class BankEntry(_Record):
    kind: Literal["entry"] = "entry"
    bank: str = Field(pattern=NAME_PATTERN)
    entry_id: str = Field(pattern=NAME_PATTERN)
    signal: SignalKind
    hash: str = Field(pattern=r"^[0-9a-f]+$")
    enabled: bool = True

    @property
    def key(self) -> bytes:
        return entry_key(self.bank, self.entry_id)


def entry_key(bank: str, entry_id: str) -> bytes:
    return f"{ENTRY_PREFIX}{bank}:{entry_id}".encode()


def bank_key(bank: str) -> bytes:
    return f"{BANK_PREFIX}{bank}".encode()


BankRecord = BankSettings | BankEntry


_RECORDS: TypeAdapter[BankRecord] = TypeAdapter(Annotated[BankRecord, Field(discriminator="kind")])


def decode_record(value: bytes) -> BankRecord:
    """Raises pydantic's ValidationError for anything else."""
    return _RECORDS.validate_json(value)
