"""What a worker wrote, read back: its verdicts and DLQ records, decoded, for tests, the bench
and the demo alike."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from streams.events import ScanError, Verdict


@dataclass(frozen=True)
class Outcome:
    """One output record and what it says: a verdict, or a DLQ record."""

    record: ConsumerRecord[bytes, bytes]
    decoded: Verdict | ScanError


class OutcomeReader:
    """Reads the verdict topics and the DLQ from their beginning, as any downstream service
    would; records of ``errors`` decode as ScanError, the others as Verdict."""

    def __init__(self, bootstrap: str, verdicts: Sequence[str], errors: str) -> None:
        self.errors = errors
        self._consumer = AIOKafkaConsumer(
            *verdicts,
            errors,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )

    async def __aenter__(self) -> Self:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def read(self, timeout_ms: int) -> list[Outcome]:
        """What arrived within ``timeout_ms`` (possibly nothing)."""
        batch = await self._consumer.getmany(timeout_ms=timeout_ms)
        return [self._decode(r) for records in batch.values() for r in records]

    def _decode(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        value = record.value or b""
        if record.topic == self.errors:
            return Outcome(record, ScanError.decode(value))
        return Outcome(record, Verdict.decode(value))


async def read_outcomes(reader: OutcomeReader, count: int, *, within: float = 120) -> list[Outcome]:
    """At least the first ``count`` outcomes (all of them, once ``count`` records were counted)."""
    found: list[Outcome] = []
    try:
        async with asyncio.timeout(within):
            while len(found) < count:
                found += await reader.read(timeout_ms=500)
    except TimeoutError:
        raise TimeoutError(f"{len(found)} of {count} outcomes within {within}s") from None
    return found
