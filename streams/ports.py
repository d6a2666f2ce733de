"""Each hashgate process's default port, and a one-line refusal when a port is taken.

Every process serves HTTP (metrics and health pages, the agents' own pages, the simulator's
API). With one shared default, a second process on the same host died with a traceback and the
README's ``curl`` examples reached the wrong process; each now has its own default, listed in
the "Web ports" table of docs/operations.md (generated from ``DEFAULT_PORTS``).
"""

from __future__ import annotations

import errno
import socket

from streams.errors import ConfigurationError

#: Process -> default port. ``HASHGATE_WEB__PORT`` (or the simulator's ``--port``) overrides it.
DEFAULT_PORTS: dict[str, int] = {
    "worker": 6066,
    "moderation": 6067,
    "reporting": 6068,
    "stats": 6069,
    "simulator": 8080,
}


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise ConfigurationError naming ``setting`` if ``host:port`` cannot be bound now.

    The socket is bound only to test and closed at once; SO_REUSEADDR matches what the servers
    set, so a port in TIME_WAIT after a restart is not mistaken for a busy one.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc})"
            raise ConfigurationError(
                f"{host}:{port} {why}: set {setting} to a free port "
                "(each hashgate process needs its own)"
            ) from None
