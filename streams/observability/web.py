"""The worker's HTTP pages: Prometheus metrics and real liveness/readiness checks.

faust's own ``/`` answers OK whatever the worker is doing; orchestrators need pages that turn
red when the worker cannot do its job (crashed, not consuming, PhotoDNA breaker open).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import faust
from aiohttp.web import Response as AioResponse
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Readiness = Callable[[], tuple[bool, str]]


def install_pages(
    app: faust.App, registry: CollectorRegistry, readiness: Readiness, alive: Callable[[], bool]
) -> None:
    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        body = generate_latest(registry)
        return cast(Response, AioResponse(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST}))

    @app.page("/healthz")
    async def healthz(self: View, request: Request) -> Response:
        ok = alive()
        return self.json({"status": "ok" if ok else "failed"}, status=200 if ok else 503)

    @app.page("/readyz")
    async def readyz(self: View, request: Request) -> Response:
        ready, reason = readiness()
        return self.json(
            {"status": "ready" if ready else "not ready", "reason": reason},
            status=200 if ready else 503,
        )
