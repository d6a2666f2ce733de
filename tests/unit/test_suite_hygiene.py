"""The suite's own rules: a clean process for every test, and no test module importing another."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.photodna.ratelimit import RateLimiter
from tests.conftest import TEST_RUN_VARIABLES

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_imports_another() -> None:
    offenders = []
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(TESTS)}: {name}"
                for name in names
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")
            ]
    assert offenders == []


def test_every_test_starts_without_hashgate_settings_or_registered_limiters() -> None:
    leaked = [n for n in os.environ if n.startswith("HASHGATE_") and n not in TEST_RUN_VARIABLES]
    assert leaked == []
    assert RateLimiter._registry == {}


SERVICE_TESTS = TESTS / "unit" / "scan" / "test_service.py"


def test_an_exported_setting_does_not_reach_the_tests() -> None:
    # What the issue saw: with HASHGATE_SCAN__MAX_IN_FLIGHT=0 exported, unit tests failed.
    env = {
        **os.environ,
        "HASHGATE_SCAN__MAX_IN_FLIGHT": "0",
        "HASHGATE_REQUIRE_BROWSER": "1",
        "EXPECT_BROWSER_SWITCH": "1",
    }
    tests = [
        f"{__file__}::test_every_test_starts_without_hashgate_settings_or_registered_limiters",
        f"{__file__}::test_the_browser_switch_set_by_ci_survives_the_clean_up",
        # builds Settings() at import; one of its tests is enough to import it
        f"{SERVICE_TESTS}::test_readiness_says_why_the_worker_is_not_ready",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_browser_switch_set_by_ci_survives_the_clean_up() -> None:
    # .ci/run exports HASHGATE_REQUIRE_BROWSER=1; the run above sets it and checks it is kept.
    if os.environ.get("EXPECT_BROWSER_SWITCH") == "1":
        assert os.environ.get("HASHGATE_REQUIRE_BROWSER") == "1"
    assert "HASHGATE_REQUIRE_BROWSER" in TEST_RUN_VARIABLES
