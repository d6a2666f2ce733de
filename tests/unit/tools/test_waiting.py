"""The harness's waits: a condition that must hold all along fails as soon as it stops."""

from __future__ import annotations

import pytest

from hashgate_tools.harness.waiting import throughout


async def test_throughout_checks_until_the_time_is_up() -> None:
    calls = 0

    async def holds() -> None:
        nonlocal calls
        calls += 1

    await throughout(holds, seconds=0.05, poll=0.01)
    assert calls >= 3


async def test_throughout_fails_when_the_check_stops_holding() -> None:
    calls = 0

    async def holds_twice() -> None:
        nonlocal calls
        calls += 1
        assert calls <= 2, "stopped holding"

    with pytest.raises(AssertionError, match="stopped holding"):
        await throughout(holds_twice, seconds=5.0, poll=0.001)
    assert calls == 3
