"""What each process loads: the moderation and stats agents need neither the PhotoDNA client
nor Pillow, and no runtime process needs the simulator's pdqhash or numpy.

Each case runs in a fresh interpreter, the way ``hashgate <command>`` starts: the CLI resolves
the command and builds the process's app (without starting it), then ``sys.modules`` is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import json, sys
from streams.cli import cli
from streams.settings import Settings
command = sys.argv[1]
cli.get_command(None, command)
if command == "moderation":
    from streams.downstream.moderation import build_moderation
    build_moderation(Settings())
elif command == "stats":
    from streams.downstream.stats import build_stats
    build_stats(Settings())
roots = {"streams.photodna", "PIL", "pdqhash", "numpy", "hashgate_tools"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in roots or m in roots
                        or m.startswith("streams.photodna"))))
"""


POLICY = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.yaml"


def _loaded(command: str) -> list[str]:
    env = {**os.environ, "HASHGATE_MODERATION__POLICY_FILE": str(POLICY)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, command], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("command", ["moderation", "stats"])
def test_moderation_and_stats_load_neither_photodna_nor_pillow(command: str) -> None:
    assert _loaded(command) == []


def test_the_worker_loads_photodna_but_not_the_simulators_libraries() -> None:
    loaded = _loaded("worker")
    assert "streams.photodna" in loaded
    assert not {"pdqhash", "numpy", "hashgate_tools"} & {m.split(".")[0] for m in loaded}
