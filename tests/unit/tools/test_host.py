"""The harness's busy core: it takes CPU while a soak runs and never outlives its block."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashgate_tools.harness.host import busy_core
from hashgate_tools.harness.processes import cpu_seconds
from hashgate_tools.harness.waiting import eventually

pytestmark = pytest.mark.unit


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_the_busy_core_spins_until_the_block_ends_and_then_is_gone() -> None:
    with busy_core(within_s=60) as pid:
        await eventually(lambda: cpu_seconds(pid) >= 0.3, within=10, what="the spinner's CPU")
    assert gone(pid)


async def test_the_busy_core_stops_by_itself_at_its_deadline() -> None:
    with busy_core(within_s=0.5) as pid:
        await eventually(lambda: gone(pid), within=10, what="the spinner's own exit")
