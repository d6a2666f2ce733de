"""``python -m bench``: the scan worker's scenarios (``make bench``) or any others (``--only``;
``make bench-state`` runs the state suite), a table and a JSON report."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from bench.report import RESULTS_DIR, document, table, write
from bench.report import markdown as render_markdown
from bench.run import profile_worker, run_bench
from bench.scenarios import FULL, SMOKE, STATE_SUITE, WORKER_SUITE, Result
from hashgate_tools.localkafka import local_kafka


@click.command()
@click.option(
    "--only",
    default=WORKER_SUITE,
    show_default=True,
    help=f"Scenario letters to run; (d) and (e) bring (a) along. The state suite: {STATE_SUITE}.",
)
@click.option("--smoke", is_flag=True, help="Tiny event counts: checks the harness only.")
@click.option(
    "--memory-events",
    type=click.IntRange(min=100),
    default=None,
    help="Events of the memory scenarios (f), (h) and (j)-(l) instead of the full (or smoke) "
    "size: a shorter run that still shows the RSS curve's shape.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=RESULTS_DIR,
    show_default=True,
)
@click.option(
    "--markdown",
    is_flag=True,
    help="Instead: print the docs/benchmarks.md table of the latest full run (latest.json).",
)
@click.option(
    "--profile",
    "profile_events",
    type=int,
    default=0,
    help="Instead: profile the worker on this many events at latency 0 (py-spy).",
)
def main(
    only: str,
    smoke: bool,
    memory_events: int | None,
    out_dir: Path,
    markdown: bool,
    profile_events: int,
) -> None:
    """Benchmarks of the scan worker, each against a baseline measured in the same run."""
    if markdown:
        click.echo(render_markdown(json.loads((out_dir / "latest.json").read_text())))
        return
    # The bench's own clients retry while fresh topics elect their leaders; that is noise here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    log_dir = Path(tempfile.mkdtemp(prefix="hashgate-bench-"))
    click.echo(f"process logs: {log_dir}", err=True)
    with local_kafka() as bootstrap:
        if profile_events:
            out_dir.mkdir(parents=True, exist_ok=True)
            out = out_dir / f"profile-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.txt"
            eps = asyncio.run(profile_worker(bootstrap, log_dir, profile_events, out))
            click.echo(f"profiled worker: {eps:.0f} events/s under the profiler; report: {out}")
            return
        started = datetime.now(UTC)
        sizes = SMOKE if smoke else FULL
        if memory_events is not None:
            sizes = replace(sizes, memory_events=memory_events, only_changed_events=memory_events)

        def show(result: Result) -> None:
            click.echo(f"({result.scenario}) {result.title}: {result.measured}", err=True)

        run = asyncio.run(run_bench(bootstrap, log_dir, sizes, set(only), show))
    click.echo(table(run.results))
    doc = document(run.results, started=started, load=run.load, sizes=sizes)
    ran = {r.scenario for r in run.results}
    latest = {WORKER_SUITE: "latest.json", STATE_SUITE: "latest-state.json"}
    complete = [name for suite, name in latest.items() if sizes == FULL and set(suite) <= ran]
    for path in write(doc, out_dir, latest=complete):
        click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
