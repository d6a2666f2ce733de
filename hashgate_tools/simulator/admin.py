"""A small async client of the simulator's admin API, shared by tests, the demo and benchmarks."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from hashgate_tools.simulator.config import FaultConfig
from hashgate_tools.simulator.database import DbEntry
from hashgate_tools.simulator.server import ADMIN_PREFIX, API_PREFIX
from hashgate_tools.simulator.stats import ReceivedReport, StatsSnapshot
from streams.closing import AsyncClosing


class SimulatorAdminError(RuntimeError):
    """The admin API refused a call; the message carries its explanation."""


class SimulatorAdmin(AsyncClosing):
    """``SimulatorAdmin(sim.admin_url)``; the PhotoDNA base URL or the bare root work too."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        root = url.rstrip("/")
        for suffix in (API_PREFIX, ADMIN_PREFIX):
            root = root.removesuffix(suffix)
        self._client = httpx.AsyncClient(base_url=root, timeout=timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self._client.request(method, path, json=body)
        if response.is_error:
            raise SimulatorAdminError(
                f"{method} {path}: HTTP {response.status_code}: {response.text}"
            )
        return response.json()

    async def healthy(self) -> bool:
        try:
            return (await self._client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    async def faults(self) -> FaultConfig:
        return FaultConfig.model_validate(await self._call("GET", f"{ADMIN_PREFIX}/faults"))

    async def set_faults(self, faults: FaultConfig | None = None, **fields: Any) -> FaultConfig:
        """Replace the faults: ``set_faults()`` clears them, ``set_faults(outage=True)`` etc."""
        config = faults if faults is not None else FaultConfig.model_validate(fields)
        answer = await self._call("PUT", f"{ADMIN_PREFIX}/faults", config.model_dump(mode="json"))
        return FaultConfig.model_validate(answer)

    async def stats(self) -> StatsSnapshot:
        return StatsSnapshot.model_validate(await self._call("GET", f"{ADMIN_PREFIX}/stats"))

    async def reset_stats(self) -> None:
        """Zero the counters and forget received reports."""
        await self._call("POST", f"{ADMIN_PREFIX}/stats/reset")

    async def reports(self) -> list[ReceivedReport]:
        answer = await self._call("GET", f"{ADMIN_PREFIX}/reports")
        return [ReceivedReport.model_validate(item) for item in answer]

    async def db_entries(self) -> list[DbEntry]:
        answer = await self._call("GET", f"{ADMIN_PREFIX}/db")
        return [DbEntry.model_validate(item) for item in answer["entries"]]

    async def add_to_db(
        self,
        image: bytes | None = None,
        *,
        pdq: str | None = None,
        source: str = "Test",
        violations: tuple[str, ...] = ("A1",),
        label: str = "",
        match_id: str | None = None,
    ) -> DbEntry:
        """Make later Match calls for this image (or hash) a hit; returns the new entry."""
        body: dict[str, Any] = {"source": source, "violations": list(violations), "label": label}
        if image is not None:
            body["image_base64"] = base64.b64encode(image).decode("ascii")
        if pdq is not None:
            body["pdq"] = pdq
        if match_id is not None:
            body["match_id"] = match_id
        return DbEntry.model_validate(await self._call("POST", f"{ADMIN_PREFIX}/db", body))

    async def reload_db(self) -> int:
        """Re-read the database file (runtime additions are dropped); returns the entry count."""
        answer = await self._call("POST", f"{ADMIN_PREFIX}/db/reload")
        return int(answer["entries"])
