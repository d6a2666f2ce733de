"""pytest runs forked from a process that already imported what the tests need from outside.

A mutant's test run used to be a new interpreter: about 1.5 s of imports (pytest, faust,
aiokafka, pydantic, httpx, ...) before its first test, most of a mutant's cost. Here a
long-lived process imports those once (``preload``), and each run is a ``fork`` of it that
imports the project's modules (``streams``, ``tests``) from disk, so the mutated source is what
the tests see, and runs pytest in the child. Nothing of the project is ever imported in the
long-lived process, so no run sees another's modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

#: Top-level packages of the project: imported fresh in every run, never preloaded.
PROJECT_PACKAGES = frozenset({"streams", "tests", "hashgate_tools", "conftest", "__main__"})

#: pytest warns that the plugins the worker preloaded (pytest-asyncio, ...) are imported before
#: it could rewrite their asserts; only the tests' own asserts matter here.
_PRELOADED_PLUGINS_OK = ("-W", "ignore::pytest.PytestAssertRewriteWarning")

#: Set for every run and listing: pytest loads only the plugins the arguments name (``-p``).
NO_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"

#: Exit status of a child whose pytest raised instead of returning (counted as a failure).
PYTEST_CRASHED = 70

_LIST_IMPORTS = (
    "import json, sys, pytest\n"
    "pytest.main(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(json.dumps(sorted(sys.modules)))\n"
)


def imports_of(pytest_args: Sequence[str], cwd: Path) -> list[str]:
    """The modules from outside the project that a collection of ``pytest_args`` imports."""
    with tempfile.NamedTemporaryFile(suffix=".json") as listing:
        subprocess.run(
            [sys.executable, "-c", _LIST_IMPORTS, listing.name, "--collect-only", *pytest_args],
            cwd=cwd,
            env={**os.environ, NO_AUTOLOAD: "1"},
            check=True,
            capture_output=True,
        )
        names: list[str] = json.loads(Path(listing.name).read_text())
    return [name for name in names if name.partition(".")[0] not in PROJECT_PACKAGES]


def preload(names: Sequence[str]) -> None:
    """Imports ``names`` into this process; one that cannot be imported on its own is left out
    (a run imports it itself, as a new interpreter would)."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue


def run(pytest_args: Sequence[str], *, fresh: Path, timeout_s: float) -> tuple[bool, str]:
    """pytest in a forked child: (passed, the tail of its output); a timeout is a failure.

    ``fresh`` is a source file changed since the last run: its cached bytecode is removed so the
    child compiles it anew (a change within the same second and of the same size would
    otherwise reuse the old bytecode). Every other module's bytecode, and pytest's rewritten
    test modules, are cached as usual, whatever PYTHONDONTWRITEBYTECODE says: compiling them
    in every run would cost more than the imports the fork saves.
    """
    sys.dont_write_bytecode = False
    Path(importlib.util.cache_from_source(str(fresh))).unlink(missing_ok=True)
    with tempfile.TemporaryFile() as output:
        pid = os.fork()
        if pid == 0:
            _child(pytest_args, output.fileno())
        pidfd = os.pidfd_open(pid)
        try:
            finished, _, _ = select.select([pidfd], [], [], timeout_s)
        finally:
            os.close(pidfd)
        if not finished:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        output.seek(0)
        text = output.read()[-3000:].decode(errors="replace")
    passed = bool(finished) and os.waitstatus_to_exitcode(status) == 0
    return passed, text if finished else f"killed after {timeout_s:.0f} s\n{text}"


def _child(pytest_args: Sequence[str], output: int) -> NoReturn:
    status = PYTEST_CRASHED
    try:
        os.dup2(output, 1)
        os.dup2(output, 2)
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # not a capture of a caller's
        os.environ[NO_AUTOLOAD] = "1"
        import pytest

        status = int(pytest.main([*_PRELOADED_PLUGINS_OK, *pytest_args]))
    except BaseException:  # noqa: BLE001 - a forked child must never return into the worker
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
