"""A repeated scenario reports its median run and the spread of every figure its aim uses."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import pytest

from bench.lab import Lab
from bench.report import markdown, spreads
from bench.scenarios import SCENARIOS, SMOKE, Context, Result, run_all, summarised

pytestmark = pytest.mark.unit


def _run(ratio: float, cpu: float, *, met: bool) -> Result:
    return Result(
        "b",
        "overhead",
        f"{ratio} share",
        "plain loop",
        ratio,
        "share",
        ">= 0.85",
        met,
        {"events": 10},
        {"throughput_share": ratio, "cpu_ratio": cpu},
    )


def test_the_median_run_stands_for_the_scenario_with_each_figures_spread() -> None:
    runs = [_run(0.80, 1.5, met=False), _run(0.90, 1.2, met=True), _run(0.86, 1.25, met=True)]

    result = summarised(runs)

    assert result.ratio == 0.86 and result.measured == "0.86 share"
    assert result.spread == {
        "ratio": [0.80, 0.86, 0.90],
        "throughput_share": [0.80, 0.86, 0.90],
        "cpu_ratio": [1.2, 1.25, 1.5],
    }
    assert result.met is True  # two of three runs met the aim
    assert [run["events"] for run in result.figures["runs"]] == [10, 10, 10]


def test_the_aim_is_missed_when_most_runs_missed_it() -> None:
    runs = [_run(0.80, 1.5, met=False), _run(0.90, 1.2, met=True), _run(0.70, 1.6, met=False)]

    assert summarised(runs).met is False


def test_a_single_run_is_reported_as_it_is() -> None:
    run = _run(0.9, 1.2, met=True)

    assert summarised([run]) is run


def test_the_docs_table_shows_the_spread_of_repeated_scenarios() -> None:
    result = summarised([_run(0.80, 1.5, met=False), _run(0.90, 1.2, met=True)])
    doc = {
        "machine": {
            "nproc": 2,
            "cpu_model": "cpu",
            "ram_gib": 1,
            "python": "3.11",
            "kafka_broker": "4",
            "aiokafka": "0.14",
            "faust_streaming": "0.15",
        },
        "started_at": "now",
        "load_average": {"start": [1.0]},
        "scenarios": {"b": result.__dict__},
    }

    text = markdown(doc)

    assert "0.900 [0.800-0.900] (share)" in text
    assert spreads(doc["scenarios"]) == [
        "- (b) over 2 runs: ratio 0.800 / 0.850 / 0.900; throughput_share 0.800 / 0.850 / 0.900;"
        " cpu_ratio 1.200 / 1.350 / 1.500"
    ]


async def test_each_run_of_a_repeated_scenario_knows_its_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sides sharing a run take turns going first by ``ctx.repeat`` (scenario (e))."""
    seen: list[int] = []

    async def scenario(ctx: Context) -> Result:
        seen.append(ctx.repeat)
        return _run(0.9, 1.2, met=True)

    monkeypatch.setitem(SCENARIOS, "b", scenario)
    ctx = Context(cast(Lab, None), replace(SMOKE, repeats=3))

    await run_all(ctx, ["b"], lambda _: None)

    assert seen == [0, 1, 2]
