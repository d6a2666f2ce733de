"""``make bench`` at a tiny size, so the harness cannot rot between benchmark runs.

Nothing here is timed: the test asserts that one scenario runs its worker and its baseline to
completion and yields a complete, well-formed report, not how fast anything was.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.report import document, table, write
from bench.run import run_bench
from bench.scenarios import SMOKE

pytestmark = pytest.mark.integration


async def test_overhead_scenario_yields_a_well_formed_report(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    started = datetime.now(UTC)

    run = await run_bench(kafka_bootstrap, tmp_path / "logs", SMOKE, {"b"})

    assert [r.scenario for r in run.results] == ["b"]
    result = run.results[0]
    for side in (
        "worker",
        "plain_loop",
        "faust_loop",
        "faust_loop_latest",
        "faust_records",
        "faust_grouped",
    ):
        figures = result.figures[side]
        assert figures["events"] == SMOKE.overhead_events  # every upload got its verdict
        assert figures["span_s"] > 0
        assert figures["cpu_ms_per_event"] >= 0
    assert math.isfinite(result.ratio) and result.ratio > 0
    cpu_ratio = result.figures["cpu_ratio"]
    assert result.met is (result.ratio >= 0.85 and cpu_ratio is not None and cpu_ratio <= 1.3)

    doc = document(run.results, started=started, load=run.load, sizes=SMOKE)
    (path,) = write(doc, tmp_path / "results", latest=[])
    saved = json.loads(path.read_text())
    assert saved["scenarios"]["b"]["ratio"] == result.ratio
    assert saved["sizes"]["overhead_events"] == SMOKE.overhead_events
    assert saved["machine"]["nproc"] >= 1 and saved["machine"]["python"]
    assert set(saved["load_average"]) == {"start", "after_b"}
    assert "(b)" in table(run.results)


async def test_latency_scenario_measures_the_worker_and_the_faust_floor(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    run = await run_bench(kafka_bootstrap, tmp_path / "logs", SMOKE, {"e"})

    assert [r.scenario for r in run.results] == ["a", "e"]  # (e) publishes at half of (a)
    result = run.results[1]
    for figures in (result.figures, result.figures["faust_live"]):
        # every measured upload got its verdict, and its hop and timings were read
        assert figures["measured_events"] == figures["events"] > 0
        assert figures["added_ms"]["p50"] <= figures["added_ms"]["p99"]
        assert figures["kafka_hop_ms"]["p50"] > 0
    added = result.figures["added_ms"]
    assert result.met is (added["p50"] <= 3 and added["p99"] <= 15)
    assert set(result.key_figures) == {
        "added_p50_ms",
        "added_p99_ms",
        "faust_live_added_p50_ms",
        "faust_live_added_p99_ms",
    }
    assert "the faust floor added" in result.baseline
