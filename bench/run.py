"""Runs scenarios against a broker: the part of ``python -m bench`` the smoke test calls too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.downstream_state import register_state_scenarios
from bench.lab import PROFILER_STOP, WORKER, open_lab, profiled
from bench.report import load_average
from bench.scenarios import Context, Result, Sizes, run_all, selected

register_state_scenarios()


@dataclass
class BenchRun:
    results: list[Result] = field(default_factory=list)
    load: dict[str, list[float]] = field(default_factory=dict)


async def run_bench(
    bootstrap: str,
    log_dir: Path,
    sizes: Sizes,
    only: set[str],
    on_result: Callable[[Result], None] = lambda _: None,
) -> BenchRun:
    run = BenchRun(load={"start": load_average()})

    def record(result: Result) -> None:
        run.results.append(result)
        run.load[f"after_{result.scenario}"] = load_average()
        on_result(result)

    async with open_lab(bootstrap, log_dir) as lab:
        await run_all(Context(lab, sizes), selected(only), record)
    return run


async def profile_worker(bootstrap: str, log_dir: Path, events: int, out: Path) -> float:
    """Scenario (b)'s worker side under py-spy; returns its events/s under the profiler, which
    stops the worker for each sample (on a quiet machine about half the unprofiled figure)."""
    async with open_lab(bootstrap, log_dir) as lab, lab.simulator("sim-prof", latency_ms=0) as sim:
        run = await lab.run_backlog(
            "worker-profiled",
            profiled(WORKER, out),
            sim,
            events,
            expected_eps=50,
            stop_by=PROFILER_STOP,
        )
    return run.events_per_s
