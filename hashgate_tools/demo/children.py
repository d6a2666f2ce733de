"""The demo's child processes, stopped by PID in reverse start order, whatever happens.

A Ctrl-C in the terminal reaches only the demo (each child has its own session), which then
stops the worker first (it drains against a still-running simulator) and the simulator after it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hashgate_tools.harness.processes import Process


class Children:
    """Every child the demo started, with how long each may take to stop."""

    def __init__(self) -> None:
        self._started: list[tuple[Process, float]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, stop_timeout_s: float
    ) -> Process:
        return self.adopt(Process(name, argv, env, log_dir=cwd, cwd=cwd).start(), stop_timeout_s)

    def adopt(self, child: Process, stop_timeout_s: float) -> Process:
        """A child started elsewhere (the harness), stopped with the others."""
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
