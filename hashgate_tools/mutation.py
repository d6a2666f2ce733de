"""Mutation testing of the safety core with cosmic-ray: `make mutate` (docs/mutation.md).

Each module is mutated against the unit tests that guard it, one mutant at a time and one test
process at a time (2 cores are shared). cosmic-ray edits the source file it mutates, so the run
happens in a throw-away copy of the working tree, never in the tree you are editing.

    python -m hashgate_tools.mutation                       # the whole safety core
    python -m hashgate_tools.mutation streams/scan/scanner.py
    python -m hashgate_tools.mutation --changed main        # what differs from main
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import WorkerOutcome

ROOT = Path(__file__).resolve().parent.parent

#: Each safety-core module and the unit tests that must kill its mutants.
SAFETY_CORE: dict[str, tuple[str, ...]] = {
    "streams/scan/scanner.py": ("tests/unit/scan/test_scanner.py",),
    "streams/scan/pipeline.py": ("tests/unit/scan/test_pipeline.py",),
    "streams/scan/ack_tracker.py": ("tests/unit/scan/test_ack_tracker.py",),
    "streams/scan/outputs.py": ("tests/unit/scan/test_outputs.py",),
    "streams/scan/service.py": ("tests/unit/scan/test_service.py",),
    "streams/photodna/responses.py": (
        "tests/unit/photodna/test_responses.py",
        "tests/unit/photodna/test_api.py",
    ),
    "streams/photodna/ratelimit.py": ("tests/unit/photodna/test_ratelimit.py",),
    "streams/photodna/breaker.py": ("tests/unit/photodna/test_breaker.py",),
    "streams/media/addresses.py": ("tests/unit/media/test_addresses.py",),
    "streams/observability/redact.py": ("tests/unit/observability/test_redact.py",),
    "streams/observability/logging.py": ("tests/unit/observability/test_logging.py",),
    "streams/events/verdict.py": ("tests/unit/events/test_models.py",),
}

#: Longest a single test run may take before the mutant counts as killed (an endless loop).
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Score:
    module: str
    total: int
    killed: int
    survivors: list[str]

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0


def changed_modules(base: str) -> list[str]:
    """Safety-core modules (or their tests) that differ from ``base``."""
    diff = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...HEAD"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return [m for m, tests in SAFETY_CORE.items() if m in diff or set(tests) & set(diff)]


def _copy_tree(into: Path) -> None:
    """The tracked and new files of the working tree, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / raw.decode()
        if source.is_file():
            target = into / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _config(module: str) -> str:
    tests = " ".join(SAFETY_CORE[module])
    command = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -m unit {tests}"
    return (
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {TIMEOUT_S}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def _cosmic(tool: str, *args: str, cwd: Path) -> str:
    binary = str(Path(sys.executable).parent / tool)
    return subprocess.run(
        [binary, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def mutate(module: str, workdir: Path) -> Score:
    """Runs every mutant of ``module`` and reads the session back."""
    config = workdir / "cosmic-ray.toml"
    session = workdir / f"{module.replace('/', '.')}.sqlite"
    config.write_text(_config(module))
    _cosmic("cosmic-ray", "init", str(config), str(session), cwd=workdir)
    _cosmic("cr-filter-pragma", str(session), cwd=workdir)
    _cosmic("cosmic-ray", "exec", str(config), str(session), cwd=workdir)
    return _score(module, session)


def _score(module: str, session: Path) -> Score:
    """Mutants run (but those ``# pragma: no mutate`` skips), killed, and survivors' diffs."""
    total = killed = 0
    survivors: list[str] = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                continue
            total += 1
            if result.is_killed:
                killed += 1
            else:
                where = ", ".join(
                    f"line {m.start_pos[0]} {m.operator_name}" for m in item.mutations
                )
                survivors.append(f"{where}\n{result.diff}")
    return Score(module, total, killed, survivors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="safety-core modules (default: all)")
    parser.add_argument("--changed", metavar="BASE", help="only modules changed since BASE")
    args = parser.parse_args(argv)
    modules = changed_modules(args.changed) if args.changed else args.modules or list(SAFETY_CORE)
    unknown = sorted(set(modules) - set(SAFETY_CORE))
    if unknown:
        parser.error(f"not in the safety core: {', '.join(unknown)}")
    if not modules:
        print("no safety-core module changed: nothing to mutate")
        return 0
    failed = False
    with tempfile.TemporaryDirectory(prefix="hashgate-mutate-") as tmp:
        workdir = Path(tmp)
        _copy_tree(workdir)
        for module in modules:
            score = mutate(module, workdir)
            print(f"{score.module}: {score.killed}/{score.total} killed ({score.percent:.1f}%)")
            for survivor in score.survivors:
                print("  survived:\n    " + survivor.replace("\n", "\n    "))
            failed = failed or bool(score.survivors)
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
