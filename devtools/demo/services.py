"""Starts what the demo runs against: the image server, the PhotoDNA simulator and the worker.

The simulator and the worker are the real commands (``hashgate simulator serve``,
``python -m streams worker``) in subprocesses, configured the way an operator would configure
them: command-line flags and ``HASHGATE_*`` variables.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from aiohttp import web

from devtools.demo.children import Child, Children
from devtools.localkafka import _free_port
from streams.settings import TopicSettings

#: The simulator's per-key quota and the worker's matching client-side rate.
QUOTA_RPS = 20
#: Latency the simulator adds to each Match call: median and p99 in milliseconds.
LATENCY = "lognormal:80:400"
WORKER_READY_TIMEOUT_S = 120.0
SIMULATOR_READY_TIMEOUT_S = 30.0
#: The worker drains in-flight scans for up to this long on SIGTERM.
WORKER_GRACE_S = 5


class DemoError(RuntimeError):
    """A part of the demo could not start; the message says which and shows its log."""


@dataclass(frozen=True)
class Simulator:
    child: Child
    root_url: str

    @property
    def endpoint(self) -> str:
        return f"{self.root_url}/photodna/v1.0"


def demo_topics(prefix: str) -> TopicSettings:
    """Every topic name under ``prefix``, so a demo never touches a cluster's real topics."""
    defaults = TopicSettings()
    names = {
        name: f"{prefix}.{getattr(defaults, name)}"
        for name, field in TopicSettings.model_fields.items()
        if field.annotation is str
    }
    return TopicSettings(**names, partitions=4)


def topic_env(topics: TopicSettings) -> dict[str, str]:
    return {
        f"HASHGATE_TOPICS__{name.upper()}": str(getattr(topics, name))
        for name in TopicSettings.model_fields
    }


@asynccontextmanager
async def serve_folder(folder: Path) -> AsyncIterator[str]:
    """Serve ``folder`` under /images on 127.0.0.1; yields the base URL."""
    app = web.Application()
    app.router.add_static("/images", folder)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _wait_until_ok(child: Child, url: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if child.exit_code is not None:
                raise DemoError(
                    f"the {child.name} exited with code {child.exit_code}:\n{child.log_tail()}"
                )
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.25)
    raise DemoError(f"the {child.name} was not ready within {timeout_s:.0f}s:\n{child.log_tail()}")


async def start_simulator(children: Children, run_dir: Path, key: str) -> Simulator:
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "streams",
        "simulator",
        "serve",
        "--port",
        str(port),
        "--keys",
        key,
        "--quota-rps",
        str(QUOTA_RPS),
        "--latency-ms",
        LATENCY,
    ]
    child = children.start("simulator", argv, dict(os.environ), run_dir, stop_timeout_s=10)
    simulator = Simulator(child, f"http://127.0.0.1:{port}")
    await _wait_until_ok(child, f"{simulator.root_url}/healthz", SIMULATOR_READY_TIMEOUT_S)
    return simulator


async def start_worker(
    children: Children,
    run_dir: Path,
    *,
    bootstrap: str,
    endpoint: str,
    key: str,
    topics: TopicSettings,
    group: str,
) -> Child:
    """Start ``hashgate worker`` and wait until /readyz says it consumes."""
    port = _free_port()
    env = {
        **os.environ,
        **topic_env(topics),
        "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HASHGATE_KAFKA__CONSUMER_GROUP": group,
        "HASHGATE_PHOTODNA__ENDPOINT": endpoint,
        "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": key,
        "HASHGATE_PHOTODNA__KEY_QUOTA_RPS": str(QUOTA_RPS),
        "HASHGATE_SCAN__SHUTDOWN_GRACE_S": str(WORKER_GRACE_S),
        "HASHGATE_WEB__PORT": str(port),
        "HASHGATE_LOG_LEVEL": "INFO",
    }
    argv = [sys.executable, "-m", "streams", "worker"]
    # faust keeps a data folder in its working directory: the run folder, removed at the end.
    child = children.start("worker", argv, env, run_dir, stop_timeout_s=WORKER_GRACE_S + 25)
    await _wait_until_ok(child, f"http://127.0.0.1:{port}/readyz", WORKER_READY_TIMEOUT_S)
    return child
