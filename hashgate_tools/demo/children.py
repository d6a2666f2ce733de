"""The demo's child processes, stopped by PID in reverse start order, whatever happens.

Each child runs in its own session, so a Ctrl-C in the terminal reaches only the demo, which
then stops the worker first (it drains against a still-running simulator) and the simulator
after it. Should the demo itself be killed, the kernel sends each child SIGKILL
(PR_SET_PDEATHSIG), so nothing is ever left running.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hashgate_tools.localkafka import _die_with_parent


class Child:
    """One subprocess with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.log_path = cwd / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll()

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout_s: float) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Children:
    """Every child the demo started, with how long each may take to stop."""

    def __init__(self) -> None:
        self._started: list[tuple[Child, float]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, stop_timeout_s: float
    ) -> Child:
        child = Child(name, argv, env, cwd)
        self._started.append((child, stop_timeout_s))
        return child

    def stop_all(self, report: Callable[[str], None]) -> None:
        """Gracefully, newest first; a second Ctrl-C meanwhile leaves the rest to kill_all."""
        while self._started:
            child, timeout_s = self._started[-1]
            if child.exit_code is None:
                code = child.stop(timeout_s)
                report(f"{child.name} stopped (pid {child.pid}, exit code {code})")
            self._started.pop()

    def kill_all(self) -> None:
        for child, _ in reversed(self._started):
            child.kill()
        self._started.clear()
