"""The mutation runner's test runs: a fork that says whether the tests passed, sees a changed
module at once, and is killed when it runs too long."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashgate_tools import forked_pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project: a module and a test of it, run from its own folder."""
    (tmp_path / "lib.py").write_text("VALUE = 1\n")
    (tmp_path / "test_lib.py").write_text(
        "import lib\n\ndef test_value():\n    assert lib.VALUE == 1\n"
    )
    return tmp_path


def run(project: Path, timeout_s: float = 30.0) -> tuple[bool, str]:
    here = Path.cwd()
    os.chdir(project)
    try:
        args = ["-q", "-p", "no:cacheprovider", "--rootdir", str(project), "test_lib.py"]
        return forked_pytest.run(args, fresh=project / "lib.py", timeout_s=timeout_s)
    finally:
        os.chdir(here)


def test_a_passing_run_and_a_failing_one_are_told_apart(project: Path) -> None:
    passed, output = run(project)
    assert passed and "1 passed" in output
    (project / "lib.py").write_text("VALUE = 2\n")  # same size, same second
    passed, output = run(project)
    assert not passed and "1 failed" in output


def test_a_run_past_its_timeout_is_killed_and_fails(project: Path) -> None:
    (project / "lib.py").write_text("while True:\n    pass\n")
    passed, output = run(project, timeout_s=1.0)
    assert not passed and output.startswith("killed after 1 s")


def test_what_the_tests_import_is_listed_but_hashgates_own_packages(project: Path) -> None:
    (project / "test_lib.py").write_text("import lib, streams.errors\n\ndef test_x():\n    pass\n")
    imports = forked_pytest.imports_of(["-p", "no:cacheprovider", "test_lib.py"], project)
    assert {"pytest", "lib"} <= set(imports)
    assert not any(name.partition(".")[0] in {"streams", "tests"} for name in imports)
