"""What `pip install hashgate` brings: the runtime without the tools' dependencies.

The runtime (``streams``) must import only what ``[project] dependencies`` declares, so a plain
install runs the worker, the agents and the CLI; the simulator's pdqhash and numpy (which need a
compiler) come only with the ``simulator`` extra; nothing installs under a name taken on PyPI.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
OWN = {"streams", "hashgate_tools"}


def _names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, normalised (PEP 503)."""
    return {
        re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", req).group(0)).lower()  # type: ignore[union-attr]
        for req in requirements
    }


def _imported_distributions(folder: Path) -> dict[str, str]:
    """Each third-party distribution the code under ``folder`` imports, with one importing file."""
    by_module = packages_distributions()
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in OWN:
                    continue
                for dist in by_module.get(top, [top]):
                    found.setdefault(_names([dist]).pop(), str(path.relative_to(ROOT)))
    return found


RUNTIME = _names(PYPROJECT["project"]["dependencies"])
EXTRAS = {
    name: _names(reqs) for name, reqs in PYPROJECT["project"]["optional-dependencies"].items()
}


#: The one runtime module the ``banks`` extra brings in (loaded only when banks are enabled).
BANKS_MODULE = "streams/savers/bank_index.py"


def test_the_runtime_imports_only_declared_runtime_dependencies() -> None:
    undeclared = {
        dist: where
        for dist, where in _imported_distributions(ROOT / "streams").items()
        if dist not in RUNTIME and not (dist in EXTRAS["banks"] and where == BANKS_MODULE)
    }
    assert undeclared == {}, "declare these in [project] dependencies"


def test_the_simulator_needs_only_the_runtime_and_its_extra() -> None:
    allowed = RUNTIME | EXTRAS["simulator"]
    used = _imported_distributions(ROOT / "hashgate_tools" / "simulator")
    assert {dist: where for dist, where in used.items() if dist not in allowed} == {}


def test_a_plain_install_needs_no_compiler() -> None:
    assert {"pdqhash", "numpy"} <= EXTRAS["simulator"]
    assert not {"pdqhash", "numpy"} & RUNTIME, "pdqhash compiles C++; keep it in the extra"


def test_make_installs_the_simulator_extra_for_tests_and_the_demo() -> None:
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"pip install .*-e '\.\[[^]]*\bsimulator\b", makefile)


def test_tools_install_under_a_hashgate_name_not_devtools() -> None:
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(include) == ["hashgate_tools*", "streams*"]
    assert not (ROOT / "devtools").exists(), (
        "`devtools` is a PyPI name: keep tools in hashgate_tools"
    )
