"""The seven scenarios; each measures hashgate and its baseline in the same run, as a ratio.

The machine is shared and noisy, so absolute figures move between runs; a ratio against a
baseline measured minutes apart on the same machine is what can be compared across runs.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bench.lab import (
    FAUST_LIVE,
    FAUST_LOOP,
    FAUST_LOOP_LATEST,
    FAUST_RECORDS,
    FAUST_RECORDS_GROUPED,
    NAIVE_AGENT,
    PLAIN_LOOP,
    WORKER,
    BacklogRun,
    Lab,
)
from bench.observe import CpuPressure, OutputWatch, delivery_delays_ms, rss_flatness
from bench.savers import QUOTA_RPS as SAVERS_QUOTA_RPS
from bench.savers import run_savers, saver_workload
from bench.workload import only_changed_rescans, preload, publish_paced, rescan_requests, uploads
from hashgate_tools.harness.outcomes import Outcome, OutcomeReader
from hashgate_tools.harness.processes import Process, Simulator
from hashgate_tools.harness.worker import ScanTopics
from streams.events import Verdict
from streams.events.verdict import ScanKind

#: The simulator latency and worker concurrency of scenario (a); their quotient is the bound.
LATENCY_MS = 200.0
CONCURRENCY = 64
BOUND_EPS = CONCURRENCY / (LATENCY_MS / 1000)
QUOTA_RPS = 10.0
#: (e) publishes this long before the measured stretch, and waits until it is all scanned.
WARM_UP_S = 5.0
#: (g)'s rescan requests are numbered from here, apart from the live uploads' event ids.
RESCAN_FIRST = 1_000_000


@dataclass(frozen=True)
class Sizes:
    """Event counts: FULL keeps ``make bench`` (``WORKER_SUITE``) under 40 minutes on 2 cores.

    (a), (b) and (e) run ``repeats`` times (``REPEATED``): the shared machine's noise shows as
    the spread of their ratios. ``memory_events`` is the length of the worker's (f) and of each
    agent's (j)-(l) memory run; (i) restarts the moderation agent on ``restart_small`` and on
    ``restart_large`` verdicts of state.
    """

    bound_events: int = 6_000
    naive_events: int = 150
    latency_s: float = 30.0
    overhead_events: int = 12_000
    overhead_rounds: int = 1
    memory_events: int = 500_000
    quota_events: int = 450
    only_changed_events: int = 500_000
    rescan_backlog: int = 200_000
    repeats: int = 3
    saver_events: int = 300
    restart_small: int = 100_000
    restart_large: int = 1_000_000


FULL = Sizes()
SMOKE = Sizes(
    bound_events=300,
    naive_events=10,
    latency_s=3.0,
    overhead_events=300,
    overhead_rounds=1,
    memory_events=2_000,
    quota_events=25,
    only_changed_events=2_000,
    rescan_backlog=500,
    repeats=1,
    saver_events=50,
    restart_small=500,
    restart_large=5_000,
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
    #: The figures the aim is judged on, by name; a repeated scenario adds their spread.
    key_figures: dict[str, float] = field(default_factory=dict)
    #: Per key figure (and "ratio"): [min, median, max] over the repeats.
    spread: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Context:
    lab: Lab
    sizes: Sizes
    results: dict[str, Result] = field(default_factory=dict)
    #: Which run of a repeated scenario this is (0 for the first): sides that share a run take
    #: turns going first, so a drift of the host's load does not always hit the same side.
    repeat: int = 0


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
        ">= 0.97",
        ratio >= 0.97,
        _backlog_figures(run)
        | {
            "bound_eps": BOUND_EPS,
            "latency_ms": LATENCY_MS,
            "mean_call_ms": call_ms,
            "bound_at_measured_call_eps": measured_bound,
            "share_of_bound_at_measured_call": run.events_per_s / measured_bound,
        },
        {"share_of_bound": ratio},
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


@dataclass(frozen=True)
class LivePhase:
    """A measured stretch of live uploads: each one's path, and the bare consumer's hop."""

    rate: float
    warm_up: int
    count: int
    steady: list[_Timing]
    hops_ms: list[float]
    outcomes: list[Outcome]
    cpu_pressure: float | None  # over the measured stretch: see bench/observe.py
    scanner_cpu_s: float  # the scanner's CPU over the measured stretch, every thread

    @property
    def uploads(self) -> int:
        """Every upload published: the warm-up's and the measured stretch's."""
        return self.warm_up + self.count

    @property
    def cpu_ms_per_upload(self) -> float:
        """The scanner's CPU over the measured stretch per upload published in it."""
        return self.scanner_cpu_s * 1000 / self.count


async def _live_phase(ctx: Context, topics: ScanTopics, worker: Process, rate: float) -> LivePhase:
    """Warm up, then publish live uploads at ``rate`` for ``latency_s``: every one's timings.

    Both stretches are waited for by their own verdicts, so outputs of a rescan running
    meanwhile (g) do not count as live ones.
    """
    lab = ctx.lab
    count = max(int(rate * ctx.sizes.latency_s), 20)
    warm_up = max(int(rate * WARM_UP_S), 10)
    uploads_topic = topics.name("uploads")
    async with topics.outcome_reader(lab.bootstrap) as reader:
        warm_sent = await publish_paced(
            lab.bootstrap, uploads_topic, uploads(warm_up, lab.pool), rate
        )
        await _verdicts_of(reader, warm_sent, worker)
        pressure = CpuPressure()
        cpu_before = worker.usage().cpu_s
        sent_at, hops_ms = await asyncio.gather(
            publish_paced(
                lab.bootstrap, uploads_topic, uploads(count, lab.pool, first=warm_up), rate
            ),
            delivery_delays_ms(lab.bootstrap, uploads_topic, warm_up + count),
        )
        outcomes = await _verdicts_of(reader, sent_at, worker)
        cpu_pressure = pressure.share()
        cpu_s = worker.usage().cpu_s - cpu_before
    steady = sorted(t for o in outcomes if (t := _timing(o, sent_at)) is not None)
    return LivePhase(rate, warm_up, count, steady, hops_ms[warm_up:], outcomes, cpu_pressure, cpu_s)


async def _verdicts_of(
    reader: OutcomeReader, sent_at: dict[str, int], worker: Process, within: float = 120
) -> list[Outcome]:
    """Reads outcomes until each upload of ``sent_at`` has its verdict; returns all it read."""
    outcomes: list[Outcome] = []
    missing = set(sent_at)
    async with asyncio.timeout(within):
        while missing:
            worker.check_running()
            batch = await reader.read(timeout_ms=500)
            outcomes += batch
            missing -= {o.decoded.event_id for o in batch if isinstance(o.decoded, Verdict)}
    return outcomes


def _live_figures(phase: LivePhase) -> dict[str, Any]:
    steady = phase.steady
    e2e_ms = [t.e2e_ms for t in steady]
    return {
        "publish_rate_eps": phase.rate,
        "events": phase.count,
        "measured_events": len(steady),
        "e2e_ms": _percentiles(e2e_ms),
        "api_ms": _percentiles([t.api_ms for t in steady]),
        "added_ms": _percentiles([t.e2e_ms - t.api_ms for t in steady]),
        "e2e_minus_injected_ms": _percentiles([e - LATENCY_MS for e in e2e_ms]),
        "kafka_hop_ms": _percentiles(phase.hops_ms),
        "upload_to_worker_ms": _percentiles([t.to_worker_ms for t in steady]),
        "in_worker_besides_call_ms": _percentiles([t.in_worker_ms for t in steady]),
        "scanned_to_verdict_record_ms": _percentiles([t.to_kafka_ms for t in steady]),
        "host_cpu_pressure": phase.cpu_pressure,
    }


def _pressure_note(figures: dict[str, Any]) -> str:
    """How busy the host's cores were meanwhile, for a reader of the table."""
    share = figures["host_cpu_pressure"]
    return "" if share is None else f" (a task waited for a core {share:.0%} of the time)"


def _half_capacity(ctx: Context) -> float:
    return ctx.results["a"].figures["events_per_s"] / 2 if "a" in ctx.results else BOUND_EPS / 2


async def latency(ctx: Context) -> Result:
    """(e) publish at half of (a)'s throughput; what does hashgate add to PhotoDNA's latency?

    A first stretch at the same rate warms the worker up (group join, connection pool) and
    is waited out before the measured stretch starts; only the latter counts. The same
    stretch for the faust floor (bench/faust_live.py, on the same simulator, before the worker
    in every other run): what any worker that keeps faust as the consumer and writes each
    latest-verdict record after its verdict adds on this host at that moment; the worker's
    distance from it is hashgate's own.
    """
    lab = ctx.lab
    rate = _half_capacity(ctx)
    sides = {
        "worker": ("worker-e", WORKER, lab.wait_ready),
        "faust_live": ("faust-live-e", FAUST_LIVE, lab.wait_serving),
    }
    order = list(sides) if ctx.repeat % 2 == 0 else list(reversed(sides))
    phases: dict[str, LivePhase] = {}
    async with lab.simulator("sim-e", latency_ms=LATENCY_MS) as sim:
        for side in order:
            name, argv, started = sides[side]
            phases[side] = await _scanner_live_phase(ctx, sim, name, argv, started, rate)
    phase, floor = phases["worker"], phases["faust_live"]
    # Per live upload only here: in (g) the same stretch's CPU goes to the rescan's too.
    figures = _live_figures(phase) | {"cpu_ms_per_upload": phase.cpu_ms_per_upload}
    floor_figures = _live_figures(floor) | {"cpu_ms_per_upload": floor.cpu_ms_per_upload}
    added, floor_added = figures["added_ms"], floor_figures["added_ms"]
    e2e_p99, api_p99 = figures["e2e_ms"]["p99"], figures["api_ms"]["p99"]
    return Result(
        "e",
        "end-to-end latency at half capacity",
        f"added p50/p95/p99 {added['p50']:.1f}/{added['p95']:.1f}/{added['p99']:.1f} ms"
        + _pressure_note(figures),
        f"PhotoDNA call p99 {api_p99:.1f} ms; the faust floor added p50/p99 "
        f"{floor_added['p50']:.1f}/{floor_added['p99']:.1f} ms" + _pressure_note(floor_figures),
        e2e_p99 / api_p99,
        "e2e p99 / call p99",
        "added p50 <= 3 ms, p99 <= 15 ms",
        added["p50"] <= 3 and added["p99"] <= 15,
        figures | {"faust_live": floor_figures, "first": order[0]},
        {
            "added_p50_ms": added["p50"],
            "added_p99_ms": added["p99"],
            "faust_live_added_p50_ms": floor_added["p50"],
            "faust_live_added_p99_ms": floor_added["p99"],
        },
    )


async def _scanner_live_phase(
    ctx: Context,
    sim: Simulator,
    name: str,
    argv: list[str],
    started: Callable[[Process], Awaitable[None]],
    rate: float,
) -> LivePhase:
    """One scanner on topics of its own through (e)'s live phase, once ``started`` returns;
    every latest-verdict record it owes is waited for too, so a side priced for that work
    cannot have skipped it."""
    lab = ctx.lab
    topics = await lab.new_topics()
    scanner = lab.start(name, argv, lab.env(sim, topics))
    try:
        await started(scanner)
        phase = await _live_phase(ctx, topics, scanner, rate)
        await lab.wait_latest_records(topics, phase.uploads, scanner)
    finally:
        scanner.stop()
    return phase


async def rescan_backlog(ctx: Context) -> Result:
    """(g) live uploads at half capacity while a rescan backlog waits in content.rescans.

    The live lane has its own pipeline and quota priority; this checks that a backlog of the
    rescan lane adds little to a live upload's latency and lets no live lag build up, and
    measures how fast the rescan moves meanwhile. The bench stops once the live stretch is
    scanned; the rescan's rate over that stretch is its progress rate.
    """
    lab = ctx.lab
    backlog = ctx.sizes.rescan_backlog
    async with lab.simulator("sim-g", latency_ms=LATENCY_MS) as sim:
        topics = await lab.new_topics()
        await preload(
            lab.bootstrap,
            topics.name("rescans"),
            rescan_requests(backlog, lab.pool, first=RESCAN_FIRST),
        )
        worker = lab.start("worker-g", WORKER, lab.env(sim, topics))
        try:
            await lab.wait_ready(worker)
            phase = await _live_phase(ctx, topics, worker, _half_capacity(ctx))
        finally:
            worker.stop()
    figures = _live_figures(phase)
    live = phase.steady
    first_ms, last_ms = live[0].sent_ms, max(t.sent_ms + t.e2e_ms for t in live)
    rescanned = [
        o.record.timestamp
        for o in phase.outcomes
        if isinstance(o.decoded, Verdict) and o.decoded.scan.kind is ScanKind.RESCAN
    ]
    during = [ts for ts in rescanned if first_ms <= ts <= last_ms]
    rescan_eps = len(during) / ((last_ms - first_ms) / 1000)
    lag_max_s = figures["upload_to_worker_ms"]["max"] / 1000
    added_p99 = figures["added_ms"]["p99"]
    e_p99 = ctx.results["e"].figures["added_ms"]["p99"] if "e" in ctx.results else None
    ratio = added_p99 / e_p99 if e_p99 else float("nan")
    return Result(
        "g",
        f"live at half capacity beside a {backlog:,}-request rescan backlog",
        f"live added p99 {added_p99:.1f} ms, live lag max {lag_max_s:.2f} s, "
        f"rescan {rescan_eps:.0f} events/s" + _pressure_note(figures),
        f"(e) added p99 {e_p99:.1f} ms" if e_p99 else "(e) not run",
        ratio,
        "live added p99 / (e)'s",
        "<= 2, live lag < 2 s",
        ratio <= 2 and lag_max_s < 2,
        figures
        | {
            "rescan_backlog": backlog,
            "rescan_events_per_s": rescan_eps,
            "rescan_verdicts_seen": len(rescanned),
            "live_lag_max_s": lag_max_s,
            "e_added_p99_ms": e_p99,
        },
        {"added_p99_over_e": ratio, "live_lag_max_s": lag_max_s},
    )


async def overhead(ctx: Context) -> Result:
    """(b) latency 0: the worker's own cost per event vs a plain aiokafka loop, same calls; and
    the same loop as a faust agent, without and with the latest-verdict records, then taking
    uploads one at a time (each writing its own records, or in the worker's rounds of writes),
    which split the gap into what keeping faust costs, what the only-changed promise costs, what
    the record-at-a-time shape costs, and the rest."""
    sides = {
        "worker": ("worker-b", WORKER),
        "plain_loop": ("plain-b", PLAIN_LOOP),
        "faust_loop": ("faust-loop-b", FAUST_LOOP),
        "faust_loop_latest": ("faust-latest-b", FAUST_LOOP_LATEST),
        "faust_records": ("faust-records-b", FAUST_RECORDS),
        "faust_grouped": ("faust-grouped-b", FAUST_RECORDS_GROUPED),
    }
    with_latest = {"faust_loop_latest", "faust_records", "faust_grouped"}
    runs: dict[str, list[BacklogRun]] = {side: [] for side in sides}
    count = ctx.sizes.overhead_events
    lab = ctx.lab
    async with lab.simulator("sim-b", latency_ms=0) as sim:
        for _ in range(ctx.sizes.overhead_rounds):  # alternate, so load drifts hit every side
            for side, (name, argv) in sides.items():
                run = await lab.run_backlog(
                    name,
                    argv,
                    sim,
                    count,
                    expected_eps=100,
                    latest_records=side in with_latest,
                )
                runs[side].append(run)
    fastest = {side: _fastest(side_runs) for side, side_runs in runs.items()}
    worker, plain = fastest["worker"], fastest["plain_loop"]
    faust_loop, faust_latest = fastest["faust_loop"], fastest["faust_loop_latest"]
    records, grouped = fastest["faust_records"], fastest["faust_grouped"]
    ratio = worker.events_per_s / plain.events_per_s
    cpu_ratio = _cpu_ratio(worker, plain)
    # The floors: the plain loop's work with records through faust's consumer, stream and agent
    # and nothing of hashgate's (keeping faust as the consumer); that loop with the least the
    # only-changed promise needs, each verdict's latest-verdict record confirmed after it; and
    # that, an upload at a time, so that a slow image holds up only itself: each upload writing
    # its own records, and (grouped) the worker's rounds of writes under its ScanPipeline.
    floors = {
        "faust_loop_throughput_share": faust_loop.events_per_s / plain.events_per_s,
        "faust_loop_cpu_ratio": _cpu_ratio(faust_loop, plain),
        "faust_latest_throughput_share": faust_latest.events_per_s / plain.events_per_s,
        "faust_latest_cpu_ratio": _cpu_ratio(faust_latest, plain),
        "faust_records_throughput_share": records.events_per_s / plain.events_per_s,
        "faust_records_cpu_ratio": _cpu_ratio(records, plain),
        "faust_grouped_throughput_share": grouped.events_per_s / plain.events_per_s,
        "faust_grouped_cpu_ratio": _cpu_ratio(grouped, plain),
    }
    return Result(
        "b",
        "worker overhead vs plain aiokafka loop (latency 0)",
        f"{worker.events_per_s:.0f} events/s, {worker.cpu_ms_per_event:.2f} CPU ms/event",
        f"{plain.events_per_s:.0f} events/s, {plain.cpu_ms_per_event:.2f} CPU ms/event "
        f"(as a faust agent: {faust_loop.events_per_s:.0f}, "
        f"{faust_loop.cpu_ms_per_event:.2f}; with latest-verdict records: "
        f"{faust_latest.events_per_s:.0f}, {faust_latest.cpu_ms_per_event:.2f}; "
        f"that an upload at a time: {records.events_per_s:.0f}, "
        f"{records.cpu_ms_per_event:.2f}; with grouped writes: {grouped.events_per_s:.0f}, "
        f"{grouped.cpu_ms_per_event:.2f})",
        ratio,
        "throughput share of the plain loop",
        ">= 0.85, CPU/event <= 1.3x",
        ratio >= 0.85 and cpu_ratio is not None and cpu_ratio <= 1.3,
        {
            **{side: _backlog_figures(run) for side, run in fastest.items()},
            **{f"{side}_rounds_eps": [r.events_per_s for r in rs] for side, rs in runs.items()},
            "cpu_ratio": cpu_ratio,
            **floors,
            # hashgate's own part: the worker against those floors.
            "worker_share_of_faust_loop": worker.events_per_s / faust_loop.events_per_s,
            "worker_cpu_over_faust_loop": _cpu_ratio(worker, faust_loop),
            "worker_share_of_faust_latest": worker.events_per_s / faust_latest.events_per_s,
            "worker_cpu_over_faust_latest": _cpu_ratio(worker, faust_latest),
            "worker_cpu_over_faust_records": _cpu_ratio(worker, records),
            "worker_cpu_over_faust_grouped": _cpu_ratio(worker, grouped),
        },
        {"throughput_share": ratio}
        | ({"cpu_ratio": cpu_ratio} if cpu_ratio else {})
        | {name: value for name, value in floors.items() if value is not None},
    )


def _cpu_ratio(run: BacklogRun, baseline: BacklogRun) -> float | None:
    """CPU per event over the baseline's; None when the baseline finished inside one sampling
    interval (a tiny smoke run): its CPU then reads as 0 and no ratio exists."""
    if baseline.cpu_ms_per_event <= 0:
        return None
    return run.cpu_ms_per_event / baseline.cpu_ms_per_event


def _fastest(runs: list[BacklogRun]) -> BacklogRun:
    """The round that was slowed least: others' load only ever slows a run."""
    return max(runs, key=lambda r: r.events_per_s)


async def memory(ctx: Context) -> Result:
    """(f) resident memory over a long backlog: flat after warm-up, or growing?"""
    count = ctx.sizes.memory_events
    async with ctx.lab.simulator("sim-f", latency_ms=0) as sim:
        run = await ctx.lab.run_backlog(
            "worker-f", WORKER, sim, count, expected_eps=100, poll_s=0.5
        )
    rss = [(s.outputs, s.usage.rss_kib / 1024) for s in run.progress.samples]
    warm, end, peak = rss_flatness(rss, count)
    growth = end / warm - 1
    return Result(
        "f",
        f"worker RSS over {count:,} events (latency 0)",
        f"{end:.0f} MiB at the end (peak {peak:.0f})",
        f"{warm:.0f} MiB after warm-up (10-20%)",
        end / warm,
        "end RSS / warm RSS",
        "growth < 5%",
        growth < 0.05,
        _backlog_figures(run)
        | {
            "rss_warm_mib": warm,
            "rss_end_mib": end,
            "rss_peak_mib": peak,
            "growth": growth,
            "rss_curve_mib": _thin(rss, 40),
        },
    )


async def only_changed_memory(ctx: Context) -> Result:
    """(h) the scan worker on only-changed rescans of distinct contents: its latest-verdict
    table gains an entry per verdict (on disk); does resident memory stay flat?"""
    count = ctx.sizes.only_changed_events
    lab = ctx.lab
    async with lab.simulator("sim-g", latency_ms=0) as sim:
        topics = await lab.new_topics()
        await preload(lab.bootstrap, topics.name("rescans"), only_changed_rescans(count, lab.pool))
        process = lab.start("worker-g", WORKER, lab.env(sim, topics))
        try:
            async with OutputWatch(lab.bootstrap, topics.outputs) as watch:
                progress = await watch.wait_for(
                    count, process, within=120 + 3 * count / 100, poll_s=0.5
                )
                first_ms, last_ms = await watch.span_ms()
        finally:
            process.stop()
    run = BacklogRun(count, (last_ms - first_ms) / 1000, progress.cpu_per_output() * 1000, progress)
    rss = [(s.outputs, s.usage.rss_kib / 1024) for s in progress.samples]
    warm, end, peak = rss_flatness(rss, count)
    return Result(
        "h",
        f"scan worker memory, only-changed rescans over {count:,} verdicts (latency 0)",
        f"{end:.0f} MiB at the end (peak {peak:.0f})",
        f"{warm:.0f} MiB after warm-up (10-20%)",
        end / warm,
        "end RSS / warm RSS",
        "< 1.10",
        end / warm < 1.10,
        _backlog_figures(run)
        | {
            "rss_warm_mib": warm,
            "rss_end_mib": end,
            "rss_peak_mib": peak,
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
            extra_env={"HASHGATE_PHOTODNA__KEY_QUOTA_RPS": str(QUOTA_RPS)},
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
    """(m) the duplicate cache and a bank at a fixed quota, against both off, same workload."""
    workload = saver_workload(
        ctx.sizes.saver_events, ctx.lab.log_dir / "images", ctx.lab.images.url
    )
    async with ctx.lab.simulator("sim-h", latency_ms=0, quota_rps=SAVERS_QUOTA_RPS) as sim:
        plain, plain_calls = await run_savers(ctx.lab, sim, workload, savers=False)
        saved, saved_calls = await run_savers(ctx.lab, sim, workload, savers=True)
    per_verdict = saved_calls / saved.events
    ratio = saved.events_per_s / plain.events_per_s
    return Result(
        "m",
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
    "g": rescan_backlog,
    "f": memory,
    "c": quota,
    "h": only_changed_memory,
    "m": savers,
}
NEEDS = {"d": {"a"}, "e": {"a"}, "g": {"a", "e"}}
#: ``make bench``: the scan worker's figures and the quota savers, under 40 minutes on 2 cores.
WORKER_SUITE = "adebgfcm"
#: ``make bench-state``: the state scenarios, (h) and the agents' (i)-(l)
#: (bench/downstream_state.py), about three hours at full size (500,000 verdicts a memory run).
STATE_SUITE = "hijkl"
#: Scenarios run ``Sizes.repeats`` times: the ones whose aims are close to the noise.
REPEATED = {"a", "b", "e"}


def selected(only: set[str]) -> list[str]:
    wanted = set(only) | {dep for key in only for dep in NEEDS.get(key, set())}
    return [key for key in SCENARIOS if key in wanted]


async def run_all(ctx: Context, keys: list[str], report: Callable[[Result], None]) -> None:
    for key in keys:
        runs = ctx.sizes.repeats if key in REPEATED else 1
        results = []
        for repeat in range(runs):
            ctx.repeat = repeat
            results.append(await SCENARIOS[key](ctx))
        result = summarised(results)
        ctx.results[key] = result
        report(result)


def summarised(results: list[Result]) -> Result:
    """One row for a repeated scenario: the median run's figures, every ratio's spread.

    The aim counts as met when most runs met it; ``figures["runs"]`` keeps each run's figures.
    """
    if len(results) == 1:
        return results[0]
    median = sorted(results, key=lambda r: r.ratio)[len(results) // 2]
    spread = {"ratio": _spread([r.ratio for r in results])}
    for name in median.key_figures:
        spread[name] = _spread([r.key_figures[name] for r in results if name in r.key_figures])
    met = [r.met for r in results if r.met is not None]
    return replace(
        median,
        met=sum(met) > len(met) / 2 if met else None,
        figures=median.figures | {"runs": [r.figures for r in results]},
        spread=spread,
    )


def _spread(values: list[float]) -> list[float]:
    return [min(values), statistics.median(values), max(values)]


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


def _thin(points: list[tuple[int, float]], keep: int) -> list[tuple[int, float]]:
    """Every n-th point and the last one: enough to see the curve's shape in the JSON."""
    thinned = points[:: max(1, len(points) // keep)]
    if thinned[-1] is not points[-1]:
        thinned.append(points[-1])
    return thinned
