"""What the harness asks of the machine: a free loopback port, children that die with us, and
a busy core when a test must meet a contended machine."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: A child that spins until its deadline: ``python -c SPIN seconds``.
SPIN = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end: pass"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In a child (Linux): get SIGKILL when the process that started it dies, even by kill -9."""
    pr_set_pdeathsig = 1
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@contextmanager
def busy_core(within_s: float) -> Iterator[int]:
    """A child process spinning on one core while the block runs (its PID): faults that hang on
    timing, such as a rebalance racing a fetch, show on a contended machine far more often.

    It stops by itself after ``within_s`` and is killed when the block ends, whichever is first.
    """
    spinner = subprocess.Popen(
        [sys.executable, "-c", SPIN, str(within_s)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    try:
        yield spinner.pid
    finally:
        spinner.kill()
        spinner.wait()
