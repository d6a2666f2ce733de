"""The six scenarios; each measures hashgate and its baseline in the same run, as a ratio.

The machine is shared and noisy, so absolute figures move between runs; a ratio against a
baseline measured minutes apart on the same machine is what can be compared across runs.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.lab import NAIVE_AGENT, PLAIN_LOOP, WORKER, BacklogRun, Lab
from bench.observe import OutputWatch, delivery_delays_ms
from bench.savers import QUOTA_RPS as SAVERS_QUOTA_RPS
from bench.savers import run_savers, saver_workload
from bench.workload import publish_paced, uploads
from hashgate_tools.harness.outcomes import Outcome, read_outcomes
from streams.events import Verdict

#: The simulator latency and worker concurrency of scenario (a); their quotient is the bound.
LATENCY_MS = 200.0
CONCURRENCY = 64
BOUND_EPS = CONCURRENCY / (LATENCY_MS / 1000)
QUOTA_RPS = 10.0
#: (e) publishes this long before the measured stretch, and waits until it is all scanned.
WARM_UP_S = 5.0


@dataclass(frozen=True)
class Sizes:
    """Event counts: FULL keeps ``make bench`` under ~20 minutes on 2 cores."""

    bound_events: int = 6_000
    naive_events: int = 150
    latency_s: float = 30.0
    overhead_events: int = 12_000
    overhead_rounds: int = 2
    memory_events: int = 200_000
    quota_events: int = 450
    saver_events: int = 300


FULL = Sizes()
SMOKE = Sizes(
    bound_events=300,
    naive_events=10,
    latency_s=3.0,
    overhead_events=300,
    overhead_rounds=1,
    memory_events=2_000,
    quota_events=25,
    saver_events=50,
)


@dataclass(frozen=True)
class Result:
    """One row of the table; ``figures`` holds every raw number behind it."""

    scenario: str
    title: str
    measured: str
    baseline: str
    ratio: float
    ratio_means: str
    aim: str
    met: bool | None
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    lab: Lab
    sizes: Sizes
    results: dict[str, Result] = field(default_factory=dict)


Scenario = Callable[[Context], Awaitable[Result]]


async def bound(ctx: Context) -> Result:
    """(a) 200 ms per call, 64 in flight, no quota: can the worker keep 64 calls going?

    The simulator, short of CPU, answers a little slower than the 200 ms it injects; the
    bound at the call latency the worker actually measured is reported next to the nominal.
    """
    async with ctx.lab.simulator("sim-a", latency_ms=LATENCY_MS) as sim:
        run = await ctx.lab.run_backlog(
            "worker-a",
            WORKER,
            sim,
            ctx.sizes.bound_events,
            expected_eps=BOUND_EPS,
            keep_verdicts=True,
        )
    ratio = run.events_per_s / BOUND_EPS
    call_ms = statistics.fmean(v.timings.api_ms for v in run.verdicts)
    measured_bound = CONCURRENCY / (call_ms / 1000)
    return Result(
        "a",
        "throughput vs concurrency/latency bound",
        f"{run.events_per_s:.1f} events/s",
        f"bound {BOUND_EPS:.0f} events/s ({measured_bound:.0f} at the measured "
        f"{call_ms:.0f} ms a call)",
        ratio,
        "share of the bound",
        ">= 0.95",
        ratio >= 0.95,
        _backlog_figures(run)
        | {
            "bound_eps": BOUND_EPS,
            "latency_ms": LATENCY_MS,
            "mean_call_ms": call_ms,
            "bound_at_measured_call_eps": measured_bound,
            "share_of_bound_at_measured_call": run.events_per_s / measured_bound,
        },
    )


async def naive(ctx: Context) -> Result:
    """(d) the same conditions as (a), for a faust agent that awaits each call in turn."""
    async with ctx.lab.simulator("sim-d", latency_ms=LATENCY_MS) as sim:
        run = await ctx.lab.run_backlog(
            "naive-d", NAIVE_AGENT, sim, ctx.sizes.naive_events, expected_eps=1000 / LATENCY_MS
        )
    worker_eps = ctx.results["a"].figures["events_per_s"]
    ratio = worker_eps / run.events_per_s
    return Result(
        "d",
        "worker vs naive faust agent, under (a)",
        f"worker {worker_eps:.1f} events/s",
        f"naive agent {run.events_per_s:.2f} events/s",
        ratio,
        "speed-up",
        "(none)",
        None,
        _backlog_figures(run) | {"worker_events_per_s": worker_eps},
    )


async def latency(ctx: Context) -> Result:
    """(e) publish at half of (a)'s throughput; what does hashgate add to PhotoDNA's latency?

    A first stretch at the same rate warms the worker up (group join, connection pool) and
    is waited out before the measured stretch starts; only the latter counts.
    """
    rate = ctx.results["a"].figures["events_per_s"] / 2 if "a" in ctx.results else BOUND_EPS / 2
    count = max(int(rate * ctx.sizes.latency_s), 20)
    warm_up = max(int(rate * WARM_UP_S), 10)
    lab = ctx.lab
    async with lab.simulator("sim-e", latency_ms=LATENCY_MS) as sim:
        topics = await lab.new_topics()
        uploads_topic = topics.name("uploads")
        worker = lab.start("worker-e", WORKER, lab.env(sim, topics))
        try:
            await lab.wait_ready(worker)
            async with OutputWatch(lab.bootstrap, topics.outputs) as watch:
                await publish_paced(lab.bootstrap, uploads_topic, uploads(warm_up, lab.pool), rate)
                await watch.wait_for(warm_up, worker, within=120)
                sent_at, hops_ms = await asyncio.gather(
                    publish_paced(
                        lab.bootstrap,
                        uploads_topic,
                        uploads(count, lab.pool, first=warm_up),
                        rate,
                    ),
                    delivery_delays_ms(lab.bootstrap, uploads_topic, warm_up + count),
                )
                await watch.wait_for(warm_up + count, worker, within=120)
                async with topics.outcome_reader(lab.bootstrap) as reader:
                    outcomes = await read_outcomes(reader, await watch.count())
        finally:
            worker.stop()
    steady = sorted(t for o in outcomes if (t := _timing(o, sent_at)) is not None)
    added_ms = [t.e2e_ms - t.api_ms for t in steady]
    api_ms = [t.api_ms for t in steady]
    e2e_ms = [t.e2e_ms for t in steady]
    p99_added = _percentile(added_ms, 99)
    figures: dict[str, Any] = {
        "publish_rate_eps": rate,
        "events": count,
        "measured_events": len(steady),
        "e2e_ms": _percentiles(e2e_ms),
        "api_ms": _percentiles(api_ms),
        "added_ms": _percentiles(added_ms),
        "e2e_minus_injected_ms": _percentiles([e - LATENCY_MS for e in e2e_ms]),
        "kafka_hop_ms": _percentiles(hops_ms[warm_up:]),
        "upload_to_worker_ms": _percentiles([t.to_worker_ms for t in steady]),
        "in_worker_besides_call_ms": _percentiles([t.in_worker_ms for t in steady]),
        "scanned_to_verdict_record_ms": _percentiles([t.to_kafka_ms for t in steady]),
    }
    return Result(
        "e",
        "end-to-end latency at half capacity",
        "added p50/p95/p99 {:.1f}/{:.1f}/{:.1f} ms".format(
            *(figures["added_ms"][k] for k in ("p50", "p95", "p99"))
        ),
        "PhotoDNA call p99 {:.1f} ms".format(figures["api_ms"]["p99"]),
        _percentile(e2e_ms, 99) / _percentile(api_ms, 99),
        "e2e p99 / call p99",
        "added p99 <= 25 ms",
        p99_added <= 25,
        figures,
    )


async def overhead(ctx: Context) -> Result:
    """(b) latency 0: the worker's own cost per event vs a plain aiokafka loop, same calls."""
    worker_runs: list[BacklogRun] = []
    plain_runs: list[BacklogRun] = []
    count = ctx.sizes.overhead_events
    async with ctx.lab.simulator("sim-b", latency_ms=0) as sim:
        for _ in range(ctx.sizes.overhead_rounds):  # alternate, so load drifts hit both sides
            worker_runs.append(
                await ctx.lab.run_backlog("worker-b", WORKER, sim, count, expected_eps=100)
            )
            plain_runs.append(
                await ctx.lab.run_backlog("plain-b", PLAIN_LOOP, sim, count, expected_eps=100)
            )
    worker = max(worker_runs, key=lambda r: r.events_per_s)  # others' load only slows a run
    plain = max(plain_runs, key=lambda r: r.events_per_s)
    ratio = worker.events_per_s / plain.events_per_s
    return Result(
        "b",
        "worker overhead vs plain aiokafka loop (latency 0)",
        f"{worker.events_per_s:.0f} events/s, {worker.cpu_ms_per_event:.2f} CPU ms/event",
        f"{plain.events_per_s:.0f} events/s, {plain.cpu_ms_per_event:.2f} CPU ms/event",
        ratio,
        "throughput share of the plain loop",
        ">= 0.7",
        ratio >= 0.7,
        {
            "worker": _backlog_figures(worker),
            "plain_loop": _backlog_figures(plain),
            "worker_rounds_eps": [r.events_per_s for r in worker_runs],
            "plain_rounds_eps": [r.events_per_s for r in plain_runs],
            # None when the plain loop finished inside one sampling interval (a tiny smoke run):
            # its CPU then reads as 0 and no ratio exists.
            "cpu_ratio": (
                worker.cpu_ms_per_event / plain.cpu_ms_per_event
                if plain.cpu_ms_per_event > 0
                else None
            ),
        },
    )


async def memory(ctx: Context) -> Result:
    """(f) resident memory over a long backlog: flat after warm-up, or growing?"""
    count = ctx.sizes.memory_events
    async with ctx.lab.simulator("sim-f", latency_ms=0) as sim:
        run = await ctx.lab.run_backlog(
            "worker-f", WORKER, sim, count, expected_eps=100, poll_s=0.5
        )
    rss = [(s.outputs, s.usage.rss_kib / 1024) for s in run.progress.samples]
    warm = _median_rss(rss, count * 0.1, count * 0.2)
    end = _median_rss(rss, count * 0.9, count)
    peak = max(m for n, m in rss if n >= count * 0.1)
    growth = end / warm - 1
    return Result(
        "f",
        f"worker RSS over {count:,} events (latency 0)",
        f"{end:.0f} MiB at the end (peak {peak:.0f})",
        f"{warm:.0f} MiB after warm-up (10-20%)",
        end / warm,
        "end RSS / warm RSS",
        "growth < 10%",
        growth < 0.10,
        _backlog_figures(run)
        | {
            "rss_warm_mib": warm,
            "rss_end_mib": end,
            "rss_peak_mib": peak,
            "growth": growth,
            "rss_curve_mib": _thin(rss, 40),
        },
    )


async def quota(ctx: Context) -> Result:
    """(c) a 10 calls/s quota on both sides: fill it, without 429s."""
    async with ctx.lab.simulator("sim-c", latency_ms=0, quota_rps=QUOTA_RPS) as sim:
        run = await ctx.lab.run_backlog(
            "worker-c",
            WORKER,
            sim,
            ctx.sizes.quota_events,
            expected_eps=QUOTA_RPS,
            HASHGATE_PHOTODNA__KEY_QUOTA_RPS=str(QUOTA_RPS),
        )
        async with sim.admin() as admin:
            stats = await admin.stats()
    throttled = stats["http_429"]
    share_429 = throttled / max(stats.total_requests, 1)
    ratio = run.events_per_s / QUOTA_RPS
    return Result(
        "c",
        f"quota {QUOTA_RPS:.0f} calls/s (worker rate limit {QUOTA_RPS:.0f})",
        f"{run.events_per_s:.2f} calls/s, {throttled} x 429 ({share_429:.2%})",
        f"quota {QUOTA_RPS:.0f} calls/s",
        ratio,
        "share of the quota",
        ">= 0.98, 429s < 0.5%",
        ratio >= 0.98 and share_429 < 0.005,
        _backlog_figures(run)
        | {
            "quota_rps": QUOTA_RPS,
            "http_429": throttled,
            "requests": stats.total_requests,
            "share_429": share_429,
        },
    )


async def savers(ctx: Context) -> Result:
    """(h) the duplicate cache and a bank at a fixed quota, against both off, same workload."""
    workload = saver_workload(
        ctx.sizes.saver_events, ctx.lab.log_dir / "images", ctx.lab.images.url
    )
    async with ctx.lab.simulator("sim-h", latency_ms=0, quota_rps=SAVERS_QUOTA_RPS) as sim:
        plain, plain_calls = await run_savers(ctx.lab, sim, workload, savers=False)
        saved, saved_calls = await run_savers(ctx.lab, sim, workload, savers=True)
    per_verdict = saved_calls / saved.events
    ratio = saved.events_per_s / plain.events_per_s
    return Result(
        "h",
        f"quota savers: 30% duplicates, 2% bank matches, quota {SAVERS_QUOTA_RPS:.0f} calls/s",
        f"{saved.events_per_s:.2f} verdicts/s, {per_verdict:.2f} calls/verdict",
        f"{plain.events_per_s:.2f} verdicts/s, {plain_calls / plain.events:.2f} calls/verdict",
        ratio,
        "verdicts/s with savers / without",
        ">= 1.4, calls/verdict <= 0.70",
        ratio >= 1.4 and per_verdict <= 0.70,
        {
            "events": saved.events,
            "distinct_first_uploads": workload.distinct,
            "calls_with_savers": saved_calls,
            "calls_without": plain_calls,
            "calls_per_verdict": per_verdict,
            "savers": _backlog_figures(saved),
            "plain": _backlog_figures(plain),
        },
    )


#: Run order; (d) and (e) use (a)'s throughput, so asking for them runs (a) too.
SCENARIOS: dict[str, Scenario] = {
    "a": bound,
    "d": naive,
    "e": latency,
    "b": overhead,
    "f": memory,
    "c": quota,
    "h": savers,
}
NEEDS = {"d": {"a"}, "e": {"a"}}


def selected(only: set[str]) -> list[str]:
    wanted = set(only) | {dep for key in only for dep in NEEDS.get(key, set())}
    return [key for key in SCENARIOS if key in wanted]


async def run_all(ctx: Context, keys: list[str], report: Callable[[Result], None]) -> None:
    for key in keys:
        result = await SCENARIOS[key](ctx)
        ctx.results[key] = result
        report(result)


@dataclass(frozen=True, order=True)
class _Timing:
    """One verdict's path, in ms: upload record -> worker -> PhotoDNA -> verdict record."""

    sent_ms: int
    e2e_ms: float
    api_ms: float
    to_worker_ms: float
    in_worker_ms: float
    to_kafka_ms: float


def _timing(outcome: Outcome, sent_at: dict[str, int]) -> _Timing | None:
    """None for a warm-up upload (not in ``sent_at``) or a DLQ record."""
    verdict, record = outcome.decoded, outcome.record
    if not isinstance(verdict, Verdict) or (sent := sent_at.get(verdict.event_id)) is None:
        return None
    received = verdict.timings.received_at.timestamp() * 1000
    scanned = verdict.timings.scanned_at.timestamp() * 1000
    return _Timing(
        sent_ms=sent,
        e2e_ms=record.timestamp - sent,
        api_ms=verdict.timings.api_ms,
        to_worker_ms=received - sent,
        in_worker_ms=scanned - received - verdict.timings.api_ms,
        to_kafka_ms=record.timestamp - scanned,
    )


def _backlog_figures(run: BacklogRun) -> dict[str, Any]:
    return {
        "events": run.events,
        "span_s": run.span_s,
        "events_per_s": run.events_per_s,
        "cpu_ms_per_event": run.cpu_ms_per_event,
    }


def _percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with ``pct`` % of values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def _percentiles(values: list[float]) -> dict[str, float]:
    return {f"p{p}": _percentile(values, p) for p in (50, 95, 99)} | {"max": max(values)}


def _median_rss(rss: list[tuple[int, float]], low: float, high: float) -> float:
    """Median RSS while outputs were between ``low`` and ``high``; the first sample past
    ``low`` if the polls stepped over that window (small runs)."""
    window = [mib for outputs, mib in rss if low <= outputs <= high]
    if window:
        return statistics.median(window)
    return next(mib for outputs, mib in rss if outputs >= low)


def _thin(points: list[tuple[int, float]], keep: int) -> list[tuple[int, float]]:
    """Every n-th point and the last one: enough to see the curve's shape in the JSON."""
    thinned = points[:: max(1, len(points) // keep)]
    if thinned[-1] is not points[-1]:
        thinned.append(points[-1])
    return thinned
