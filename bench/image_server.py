"""``python -m bench.image_server FOLDER PORT``: the image host the simulator downloads from.

A process of its own, so serving images costs the simulator's side of the bench, not the
worker's or the orchestrator's CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    folder, port = Path(sys.argv[1]), int(sys.argv[2])
    app = web.Application()
    app.router.add_static("/images", folder)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
