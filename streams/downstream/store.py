"""Typed views of the agents' faust tables, whose changelogs keep them across restarts.

Tables hold plain strings (JSON for models), so their changelog topics are readable with any
Kafka tool and a unit test can hand in a dict instead of a table. A table must only be written
while a record is being handled: faust puts each write in the changelog partition of that
record, which is what brings the entry back on whichever instance owns the partition next.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class SeenStore:
    """Ids of the items an agent has handled; each maps to when (a non-empty string, because
    faust's memory store drops falsy values when it recovers a table)."""

    def __init__(
        self,
        table: MutableMapping[str, str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._table = table
        self._now = clock

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._table

    def add(self, item_id: str) -> None:
        self._table[item_id] = self._now().isoformat()


class ModelStore(Generic[M]):
    """One pydantic model per key, stored as its JSON."""

    def __init__(self, table: MutableMapping[str, str], model: type[M]) -> None:
        self._table = table
        self._model = model

    def get(self, key: str) -> M | None:
        raw = self._table.get(key)
        return None if raw is None else self._model.model_validate_json(raw)

    def put(self, key: str, value: M) -> None:
        self._table[key] = value.model_dump_json()

    def remove(self, key: str) -> None:
        self._table.pop(key, None)

    def values(self) -> list[M]:
        return [self._model.model_validate_json(raw) for raw in self._table.values()]
