"""Per-key ordering: a record starts only after the previous record with the same key finished.

Records with different keys run concurrently; one content id's verdicts come out in input
order, which consumers of ``content.verdicts.*`` rely on (e.g. a rescan after a live scan).
"""

from __future__ import annotations

import asyncio


class KeyChain:
    """Hands out, per key, the future a new record must wait for before it runs."""

    def __init__(self) -> None:
        self._tails: dict[bytes, asyncio.Future[None]] = {}

    def enqueue(
        self, key: bytes | None
    ) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """Return (what to wait for, what to resolve when done) for a new record of ``key``."""
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if key is None:
            return None, mine  # no key, no ordering promise: don't serialise them all
        previous = self._tails.get(key)
        self._tails[key] = mine
        return previous, mine

    def release(self, key: bytes | None, mine: asyncio.Future[None]) -> None:
        if not mine.done():
            mine.set_result(None)
        if key is not None and self._tails.get(key) is mine:
            del self._tails[key]  # nobody queued behind: keep the map small

    def __len__(self) -> int:
        return len(self._tails)
