"""Shared pytest set-up: marks every test unit or integration by its folder, and gives every
test a clean process: no ``HASHGATE_*`` setting from the shell, no limiter from another test."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_TESTS = Path(__file__).parent

#: Variables that steer the test run itself (set by .ci/run), not hashgate: kept.
TEST_RUN_VARIABLES = frozenset({"HASHGATE_REQUIRE_BROWSER"})


def _clear_hashgate_settings(unset: Callable[[str], object]) -> None:
    for name in list(os.environ):
        if name.upper().startswith("HASHGATE_") and name not in TEST_RUN_VARIABLES:
            unset(name)


def pytest_configure(config: pytest.Config) -> None:
    """Before collection too: test modules that build ``Settings()`` at import read none."""
    _clear_hashgate_settings(os.environ.pop)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).relative_to(_TESTS).parts[0]
        if folder in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(autouse=True)
def clean_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what a test sets; process-wide registries start empty.

    An exported ``HASHGATE_SCAN__MAX_IN_FLIGHT=0`` must not fail the suite, and a limiter that
    one test registered for a key must not carry its tokens into the next test.
    """
    _clear_hashgate_settings(monkeypatch.delenv)
    # Looked up, not imported: a test that never imported the limiter has none registered, and
    # importing the PhotoDNA package here would cost every pytest start (and every mutant) ~1 s.
    ratelimit = sys.modules.get("streams.photodna.ratelimit")
    if ratelimit is not None:
        monkeypatch.setattr(ratelimit.RateLimiter, "_registry", {})
