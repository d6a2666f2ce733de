"""Running the simulator in-process (tests, demo, benchmarks) or in the foreground (the CLI)."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from yarl import URL

from hashgate_tools.simulator.config import SimulatorConfig
from hashgate_tools.simulator.server import ADMIN_PREFIX, API_PREFIX, Simulator

#: In-flight requests get this long to finish at stop; injected hangs end at once anyway.
SHUTDOWN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RunningSimulator:
    host: str
    port: int
    simulator: Simulator

    @property
    def root_url(self) -> str:
        return str(URL.build(scheme="http", host=self.host, port=self.port))

    @property
    def base_url(self) -> str:
        """What a PhotoDNA client takes as its endpoint."""
        return self.root_url + API_PREFIX

    @property
    def admin_url(self) -> str:
        return self.root_url + ADMIN_PREFIX


@asynccontextmanager
async def run_simulator(
    config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningSimulator]:
    """Serve until the block ends; ``port=0`` picks a free port (see ``.port``)."""
    simulator = Simulator(config)
    runner = web.AppRunner(simulator.app(), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    sock: socket.socket | None = None
    try:
        sock = socket.create_server((host, port))
        await web.SockSite(runner, sock).start()
        yield RunningSimulator(host, sock.getsockname()[1], simulator)
    finally:
        await runner.cleanup()
        if sock is not None:
            sock.close()


async def serve_until_signalled(
    config: SimulatorConfig, host: str, port: int, on_ready: Callable[[RunningSimulator], None]
) -> None:
    """The CLI's loop: serve until SIGTERM or SIGINT, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with run_simulator(config, host, port) as running:
            on_ready(running)
            await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
