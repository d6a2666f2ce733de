"""Child processes of the bench and the demo: simulator, image server, worker and baselines.

Everything that competes for the CPU runs in its own process, so the bench can read each one's
CPU time and resident memory from /proc and a slow orchestrator cannot slow the thing measured.
Each child runs in its own session, so a Ctrl-C in the terminal reaches only the orchestrator,
which stops the children in its own order; should the orchestrator be killed, the kernel sends
each child SIGKILL (PR_SET_PDEATHSIG), so nothing is ever left running.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx

from hashgate_tools.harness.host import die_with_parent, free_port
from hashgate_tools.simulator import SimulatorAdmin

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """A process's CPU seconds (user + system, all threads) and resident memory right now."""

    cpu_s: float
    rss_kib: int


def cpu_seconds(pid: int) -> float:
    """A process's CPU seconds so far (user + system, all threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class Process:
    """One child process with its own log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return None if self._proc is None else self._proc.poll()

    def check_running(self) -> None:
        if not self.running():
            raise RuntimeError(f"{self.name} exited early; log {self.log_path}:\n{self.log_tail()}")

    def usage(self) -> Usage:
        """From /proc/PID/stat (utime, stime) and /proc/PID/status (VmRSS)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        rss_kib = int(rss.split()[1])
        return Usage(cpu_seconds(self.pid), rss_kib)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 20.0, *, by: signal.Signals = signal.SIGTERM) -> int | None:
        """Signal ``by``, then kill it if it has not exited within ``grace_s``."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(by)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=30)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    async def wait_until(
        self, ready: Callable[[], Awaitable[bool]], *, within: float, what: str
    ) -> None:
        """Poll ``ready`` until it holds; fail early if the process died."""
        try:
            async with asyncio.timeout(within):
                while True:
                    self.check_running()
                    if await ready():
                        return
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise RuntimeError(f"{self.name}: no {what} in {within}s:\n{self.log_tail()}") from None


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


async def http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(url)).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Simulator:
    """``hashgate simulator serve`` in its own process, and its admin client."""

    process: Process
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/photodna/v1.0"

    def admin(self) -> SimulatorAdmin:
        return SimulatorAdmin(f"http://127.0.0.1:{self.port}")


async def start_simulator(
    log_dir: Path,
    name: str,
    key: str,
    *,
    quota_rps: float,
    latency_ms: float | str,
    within: float = 60,
) -> Simulator:
    """``hashgate simulator serve`` on a free port, once it answers /healthz; killed again if it
    never does. ``latency_ms`` is a number or a distribution (``lognormal:80:400``)."""
    port = free_port()
    argv = python("-m", "streams", "simulator", "serve", "--port", str(port), "--keys", key)
    argv += ["--quota-rps", str(quota_rps), "--latency-ms", str(latency_ms)]
    argv += ["--log-level", "WARNING"]
    sim = Simulator(Process(name, argv, {}, log_dir).start(), port)
    try:
        await sim.process.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), within=within, what="simulator up"
        )
    except BaseException:
        sim.process.kill()
        raise
    return sim


@dataclass
class ImageServerProcess:
    process: Process
    port: int

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/images/{name}"


async def start_image_server(log_dir: Path, folder: Path, probe: str) -> ImageServerProcess:
    port = free_port()
    argv = python("-m", "hashgate_tools.harness.images", str(folder), str(port))
    server = ImageServerProcess(Process("images", argv, {}, log_dir).start(), port)
    await server.process.wait_until(
        lambda: http_ok(server.url(probe)), within=60, what="image server up"
    )
    return server
