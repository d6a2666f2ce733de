"""Mutation testing of the safety core with cosmic-ray: `make mutate` (docs/mutation.md).

Each module is mutated against the unit tests that guard it. cosmic-ray edits the source file it
mutates, so each worker (one per core by default) runs in its own throw-away copy of the working
tree, never in the tree you are editing, one mutant and one test run at a time. A test run is a
fork of the worker, which imported the tests' third-party modules once (forked_pytest.py).

    python -m hashgate_tools.mutation                       # the whole safety core
    python -m hashgate_tools.mutation streams/scan/scanner.py
    python -m hashgate_tools.mutation --changed main        # what differs from main
    python -m hashgate_tools.mutation --workers 1           # one test process at a time
"""

from __future__ import annotations

import argparse
import difflib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.mutating import use_mutation
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkItem, WorkResult

from hashgate_tools import forked_pytest

ROOT = Path(__file__).resolve().parent.parent

#: Each safety-core module and the unit tests that must kill its mutants.
SAFETY_CORE: dict[str, tuple[str, ...]] = {
    "streams/scan/scanner.py": (
        "tests/unit/scan/test_scanner.py",
        "tests/unit/scan/test_changes.py",
        "tests/unit/scan/test_outputs.py",
    ),
    "streams/scan/pipeline.py": ("tests/unit/scan/test_pipeline.py",),
    "streams/scan/ack_tracker.py": (
        "tests/unit/scan/test_ack_tracker.py",
        "tests/unit/scan/test_pipeline.py",
    ),
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

#: Modules measured with no surviving mutant (equivalent ones carry ``# pragma: no mutate`` or
#: are in ``EQUIVALENT``, all explained in docs/mutation.md): a survivor there fails the run.
#: Elsewhere the run reports survivors without failing, until the module is brought to zero.
GUARDED: frozenset[str] = frozenset(
    {
        "streams/scan/scanner.py",
        "streams/scan/pipeline.py",
        "streams/scan/ack_tracker.py",
        "streams/scan/outputs.py",
        "streams/scan/service.py",
        "streams/photodna/responses.py",
        "streams/photodna/ratelimit.py",
        "streams/photodna/breaker.py",
        "streams/media/addresses.py",
        "streams/observability/redact.py",
        "streams/observability/logging.py",
        "streams/events/verdict.py",
    }
)

#: Operators not run (docs/mutation.md says why each is equivalent here). ``|`` in this code is
#: almost only in annotations, which ``from __future__ import annotations`` never evaluates:
#: swapping it for ``-`` or ``&`` there is an equivalent mutant, 11 per annotation. ``is`` and
#: ``is not`` compare only with singletons (None, enum members, booleans, a type), where ``==``
#: and ``!=`` agree with them and an ordering is either the same test or a TypeError; their
#: negations (``is`` to ``is not`` or ``!=``, and back) are still run.
EXCLUDED_OPERATORS = (
    "core/ReplaceBinaryOperator_BitOr_.*",
    "core/ReplaceComparisonOperator_Is_(Eq|Lt|LtE|Gt|GtE)$",
    "core/ReplaceComparisonOperator_IsNot_(NotEq|Lt|LtE|Gt|GtE)$",
)

#: Equivalent mutants left unmarked, so that the real mutants on their lines stay measured: per
#: module, the line as written and as mutated (docs/mutation.md says why each is equivalent).
#: They count neither as killed nor as survivors; any other survivor still fails a GUARDED run.
EQUIVALENT: dict[str, frozenset[tuple[str, str]]] = {
    "streams/scan/scanner.py": frozenset(
        {
            # answered_by is "photodna", "cache" or "bank:<name>": only the first sorts at or
            # after "photodna"
            ('if result.answered_by == "photodna"', 'if result.answered_by >= "photodna"'),
        }
    ),
    "streams/events/verdict.py": frozenset(
        {
            # answered_by matches ANSWERED_BY_PATTERN: "photodna", "cache" or "bank:<name>",
            # and only the first sorts at or after "photodna"
            (
                'if self.attempts < 1 and self.answered_by == "photodna":',
                'if self.attempts < 1 and self.answered_by >= "photodna":',
            ),
            # two booleans: != and is not agree
            (
                'if (self.answered_by == "cache") != (self.reused_answer is not None):',
                'if (self.answered_by == "cache") is not (self.reused_answer is not None):',
            ),
            (
                "if (self.kind is ScanKind.RESCAN) != (self.rescan_id is not None):",
                "if (self.kind is ScanKind.RESCAN) is not (self.rescan_id is not None):",
            ),
        }
    ),
    "streams/scan/service.py": frozenset(
        {
            # asyncio.sleep of a delay of 0 or less returns at once, as no sleep does
            ("if delay > 0:", "if delay > -1:"),
            ("if delay > 0:", "if delay >= 0:"),
            ("if delay > 0:", "if delay != 0:"),
            # the breaker changes to half-open or closed only after open, which shut the gate
            (
                "if state is BreakerState.OPEN and self._flowing.is_set():",
                "if state is BreakerState.OPEN or self._flowing.is_set():",
            ),
        }
    ),
    "streams/photodna/ratelimit.py": frozenset(
        {
            (  # every caller passes key and rate by position, the floor by name
                "def for_key(cls, key: SecretStr, rate: float, *, rescan_floor_rps: float = 0.0)"
                " -> RateLimiter:",
                "def for_key(cls, key: SecretStr, rate: float, /, rescan_floor_rps: float = 0.0)"
                " -> RateLimiter:",
            ),
            # the constructor: every caller passes the rate by position, the rest by name
            ("*,", "/,"),
            # the rate never exceeds the configured rate: at it, the rest changes nothing
            ("if self._rate >= self._configured:", "if self._rate is self._configured:"),
            ("if self._rate >= self._configured:", "if self._rate == self._configured:"),
            ("if self._rate >= self._configured:", "if self._rate > self._configured:"),
            # a hold ending now or earlier holds nothing: the pump grants when now >= its end
            (
                "if retry_after is not None and retry_after > 0:",
                "if retry_after is not None and retry_after > -1:",
            ),
            (
                "if retry_after is not None and retry_after > 0:",
                "if retry_after is not None and retry_after >= 0:",
            ),
            (
                "if retry_after is not None and retry_after > 0:",
                "if retry_after is not None and retry_after != 0:",
            ),
            # the floor credit is capped at 1.0, so one call's worth at most: taking 1 or 2
            # leaves max(0.0, ...) at 0 either way
            (
                "self._floor_credit = max(0.0, self._floor_credit - 1)",
                "self._floor_credit = max(0.0, self._floor_credit - 2)",
            ),
            # _WHOLE is 1 - 1e-9 and the credit, capped at 1.0, is never exactly that value
            (
                "return Lane.RESCAN if self._floor_credit >= _WHOLE else Lane.LIVE",
                "return Lane.RESCAN if self._floor_credit > _WHOLE else Lane.LIVE",
            ),
            # the clock is monotonic: time never runs back for max() to stop
            (
                "elapsed = max(0.0, now - self._updated)",
                "elapsed = max( -1.0, now - self._updated)",
            ),
        }
    ),
    "streams/photodna/breaker.py": frozenset(
        {
            (
                "self._probe_started = -math.inf  # when the latest probe was sent",
                "self._probe_started = not math.inf  # when the latest probe was sent",
            ),
            (
                "self._verdict_sent = -math.inf  # when the latest probe with an answer was sent",
                "self._verdict_sent = not math.inf"
                "  # when the latest probe with an answer was sent",
            ),
            ("if delay > 0:", "if delay >= 0:"),
            ("if delay > 0:", "if delay > -1:"),
            ("if delay > 0:", "if delay != 0:"),
            (
                "if self._failures >= self._threshold:",
                "if self._failures == self._threshold:",
            ),
        }
    ),
}

#: Longest the unmutated tests of a module may take (the baseline).
BASELINE_TIMEOUT_S = 120.0

#: A mutant's test run that takes this many times the baseline's, and at least
#: ``MUTANT_TIMEOUT_FLOOR_S``, is killed and counts as killed: the mutant made a test wait
#: for ever (a limiter that never grants, a loop that never ends). A fixed 60 s cost the rate
#: limiter's 19 such mutants 19 minutes of a worker.
MUTANT_TIMEOUT_FACTOR = 10.0
MUTANT_TIMEOUT_FLOOR_S = 10.0


def mutant_timeout(baseline_s: float) -> float:
    """How long a mutant's tests may run, from how long the unmutated ones took."""
    return max(MUTANT_TIMEOUT_FLOOR_S, MUTANT_TIMEOUT_FACTOR * baseline_s)


@dataclass(frozen=True)
class Score:
    module: str
    total: int
    killed: int
    survivors: list[str]
    unfinished: int = 0  # mutants left unrun when the time budget ran out
    equivalent: int = 0  # survivors listed in EQUIVALENT, counted in neither

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 100.0


def changed_line(diff: str) -> tuple[str, str]:
    """The first line a mutant removed and the first it added, without indentation."""
    removed = [
        line[1:].strip() for line in diff.splitlines() if line[:1] == "-" and line[:3] != "---"
    ]
    added = [
        line[1:].strip() for line in diff.splitlines() if line[:1] == "+" and line[:3] != "+++"
    ]
    return (removed[0] if removed else "", added[0] if added else "")


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


#: The only pytest plugins the guarding tests use: a run loads no other (forked_pytest.py turns
#: autoloading off), which spares it scanning every installed package for plugins and
#: hypothesis' plugin (about a second; a test that uses hypothesis still imports it).
PLUGINS = ("pytest_asyncio.plugin", "pytest_timeout")


def pytest_args(module: str) -> list[str]:
    """The module's unit tests, stopping at the first failure: a mutant needs only one."""
    plugins = [arg for name in PLUGINS for arg in ("-p", name)]
    return ["-x", "-q", "-p", "no:cacheprovider", *plugins, "-m", "unit", *SAFETY_CORE[module]]


def test_command(module: str) -> str:
    """``pytest_args`` as a command of its own (cosmic-ray's session records one)."""
    return " ".join(
        [f"{forked_pytest.NO_AUTOLOAD}=1", sys.executable, "-m", "pytest", *pytest_args(module)]
    )


def _config(module: str) -> str:
    return (
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {BASELINE_TIMEOUT_S}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(module))}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(list(EXCLUDED_OPERATORS))}\n"
    )


def _cosmic(tool: str, *args: str, cwd: Path) -> None:
    binary = str(Path(sys.executable).parent / tool)
    subprocess.run([binary, *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


class BaselineFailed(Exception):
    """The module's tests fail with no mutant in place: every mutant would count as killed."""


def _enter_copy(copies: multiprocessing.Queue[Path], imports: list[str]) -> None:
    """A worker's start: its own copy of the tree (first on the import path, as ``python -m``
    puts it), where its mutants are written and tested, and the tests' third-party imports."""
    copy = copies.get()
    os.chdir(copy)
    sys.path.insert(0, str(copy))
    forked_pytest.preload(imports)


def _unmutated(module: str) -> tuple[bool, str, float]:
    """The baseline run: whether the tests passed, their output, and how long they took."""
    began = time.monotonic()
    passed, output = forked_pytest.run(
        pytest_args(module), fresh=Path(module), timeout_s=BASELINE_TIMEOUT_S
    )
    return passed, output, time.monotonic() - began


def _mutate_and_test(item: WorkItem, module: str, timeout_s: float) -> tuple[str, WorkResult]:
    """One mutant, applied to the worker's copy for the length of its test run."""
    (mutation,) = item.mutations
    operator = get_operator(mutation.operator_name)(**mutation.operator_args)
    with use_mutation(mutation.module_path, operator, mutation.occurrence) as (original, mutated):
        if mutated is None:
            return item.job_id, WorkResult(worker_outcome=WorkerOutcome.NO_TEST)
        passed, output = forked_pytest.run(
            pytest_args(module), fresh=mutation.module_path, timeout_s=timeout_s
        )
    diff = difflib.unified_diff(
        original.split("\n"),
        mutated.split("\n"),
        fromfile=f"a/{module}",
        tofile=f"b/{module}",
        lineterm="",
    )
    return item.job_id, WorkResult(
        output=output,
        diff="\n".join(diff),
        test_outcome=TestOutcome.SURVIVED if passed else TestOutcome.KILLED,
        worker_outcome=WorkerOutcome.NORMAL,
    )


def mutate(module: str, copies: list[Path], *, deadline: float | None = None) -> Score:
    """Runs the mutants of ``module`` (those begun before ``deadline``) and reads them back.

    One worker per copy; the session (cosmic-ray's database) lives in the first copy. The
    module's tests must first pass unmutated, run the way the mutants' are.
    """
    config = copies[0] / "cosmic-ray.toml"
    session = copies[0] / f"{module.replace('/', '.')}.sqlite"
    config.write_text(_config(module))
    _cosmic("cosmic-ray", "init", str(config), str(session), cwd=copies[0])
    _cosmic("cr-filter-pragma", str(session), cwd=copies[0])
    _cosmic("cr-filter-operators", str(session), str(config), cwd=copies[0])
    imports = forked_pytest.imports_of(pytest_args(module), copies[0])
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = list(db.pending_work_items)
        queue: multiprocessing.Queue[Path] = multiprocessing.Queue()
        for copy in copies:
            queue.put(copy)
        with ProcessPoolExecutor(
            len(copies), initializer=_enter_copy, initargs=(queue, imports)
        ) as pool:
            passed, output, took_s = pool.submit(_unmutated, module).result()
            if not passed:
                raise BaselineFailed(f"{module}: its tests fail unmutated\n{output}")
            timeout_s = mutant_timeout(took_s)
            running: set[Future[tuple[str, WorkResult]]] = set()
            # At most one mutant per worker in flight: out of time, the ones begun finish and
            # the rest stay pending in the session, reported as unfinished.
            while pending or running:
                while pending and len(running) < len(copies):
                    if deadline is not None and time.monotonic() >= deadline:
                        pending.clear()
                        break
                    item = pending.pop(0)
                    running.add(pool.submit(_mutate_and_test, item, module, timeout_s))
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    db.set_result(*future.result())
    return _score(module, session)


def _score(module: str, session: Path) -> Score:
    """Mutants run (but those ``# pragma: no mutate`` skips), killed, and survivors' diffs."""
    total = killed = equivalent = 0
    survivors: list[str] = []
    listed = EQUIVALENT.get(module, frozenset())
    with use_db(str(session), WorkDB.Mode.open) as db:
        unfinished = db.num_work_items - db.num_results
        for item, result in db.completed_work_items:
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                continue
            if not result.is_killed and changed_line(result.diff or "") in listed:
                equivalent += 1
                continue
            total += 1
            if result.is_killed:
                killed += 1
            else:
                where = ", ".join(
                    f"line {m.start_pos[0]} {m.operator_name}" for m in item.mutations
                )
                survivors.append(f"{where}\n{result.diff}")
    return Score(module, total, killed, survivors, unfinished, equivalent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="safety-core modules (default: all)")
    parser.add_argument("--changed", metavar="BASE", help="only modules changed since BASE")
    parser.add_argument(
        "--budget-min", type=float, help="stop after this many minutes, naming what was not run"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="mutants tested at once, each in its own copy of the tree (default: one per core)",
    )
    args = parser.parse_args(argv)
    modules = changed_modules(args.changed) if args.changed else args.modules or list(SAFETY_CORE)
    unknown = sorted(set(modules) - set(SAFETY_CORE))
    if unknown:
        parser.error(f"not in the safety core: {', '.join(unknown)}")
    if not modules:
        print("no safety-core module changed: nothing to mutate")
        return 0
    deadline = time.monotonic() + args.budget_min * 60 if args.budget_min else None
    failed = False
    with tempfile.TemporaryDirectory(prefix="hashgate-mutate-") as tmp:
        copies = [Path(tmp) / f"worker{n}" for n in range(args.workers)]
        for copy in copies:
            _copy_tree(copy)
        for module in modules:
            if deadline is not None and time.monotonic() >= deadline:
                print(f"{module}: NOT RUN (time budget spent)")
                continue
            score = mutate(module, copies, deadline=deadline)
            print(_summary(score), flush=True)
            for survivor in score.survivors:
                print("  survived: " + survivor.replace("\n", "\n    "), flush=True)
            failed = failed or (module in GUARDED and bool(score.survivors))
    return 1 if failed else 0


def _summary(score: Score) -> str:
    text = f"{score.module}: {score.killed}/{score.total} killed ({score.percent:.1f}%)"
    if score.equivalent:
        text += f", {score.equivalent} listed equivalent"
    if score.unfinished:
        text += f", {score.unfinished} NOT RUN (time budget spent)"
    if score.module not in GUARDED:
        text += " [report only]"
    return text


if __name__ == "__main__":
    sys.exit(main())
