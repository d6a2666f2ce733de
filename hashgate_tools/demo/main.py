"""``python -m hashgate_tools.demo``: start everything, stream uploads, show outcomes, stop all.

Exit codes: 0 when every record got its expected outcome, 1 when one did not or a part failed
to start, 130 after Ctrl-C. Whatever happens, every process the demo started is stopped by PID
before it returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click

from hashgate_tools.demo.children import Children
from hashgate_tools.demo.display import Console, make_console, render_summary
from hashgate_tools.demo.services import (
    LATENCY,
    QUOTA_RPS,
    DemoError,
    demo_topics,
    start_simulator,
    start_worker,
)
from hashgate_tools.demo.tally import Tally
from hashgate_tools.demo.traffic import collect, delete_topics, publish
from hashgate_tools.demo.workload import TENANTS, PlannedRecord, plan_records, write_samples
from hashgate_tools.harness.images import serve_folder
from hashgate_tools.harness.outcomes import OutcomeReader
from hashgate_tools.harness.processes import Process
from hashgate_tools.localkafka import LocalKafkaError, local_kafka
from streams.settings import TopicSettings

#: How long to wait for outcomes after the last record was sent.
SETTLE_S = 60.0
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class DemoRun:
    """What one run needs to know everywhere."""

    uploads: int
    rate: float
    run_id: str
    prefix: str  # of every topic and consumer group of this run
    topics: TopicSettings
    console: Console
    tally: Tally
    children: Children


async def _scan(run: DemoRun, bootstrap: str, run_dir: Path) -> None:
    """The part that needs an event loop: servers up, uploads in, outcomes out."""
    note = run.console.note
    samples = write_samples(run_dir / "images")
    key = f"demo-{secrets.token_hex(12)}"
    async with serve_folder(samples.folder) as images_url:
        note(
            f"image server at {images_url}/images: {len(samples.known)} known images and "
            f"re-encoded copies, {len(samples.unknown)} new images, 2 bad files"
        )
        records = plan_records(
            run.uploads, samples, lambda name: f"{images_url}/images/{name}", run.run_id
        )
        run.tally.plan(records)
        simulator = await start_simulator(run.children, run_dir, key)
        note(
            f"PhotoDNA simulator at {simulator.endpoint} "
            f"(quota {QUOTA_RPS}/s, latency {LATENCY} ms)"
        )
        note("starting the scan worker (python -m streams worker); faust takes a few seconds")
        worker = await start_worker(
            run.children,
            run_dir,
            bootstrap=bootstrap,
            endpoint=simulator.endpoint,
            key=key,
            topics=run.topics,
            group=run.prefix,
        )
        note(f"worker ready (pid {worker.pid}), reading {run.topics.uploads}")
        note(
            f"publishing {len(records)} records at {run.rate:g}/s: {run.uploads} uploads from "
            f"{', '.join(TENANTS)} and 3 bad records"
        )
        verdicts = [run.topics.verdicts_match, run.topics.verdicts_clear]
        async with OutcomeReader(bootstrap, verdicts, run.topics.scan_errors) as reader:
            run.console.begin(run.tally)
            await _publish_and_collect(run, bootstrap, records, reader, worker)


async def _publish_and_collect(
    run: DemoRun,
    bootstrap: str,
    records: list[PlannedRecord],
    reader: OutcomeReader,
    worker: Process,
) -> None:
    """Both at once; the first failure (the worker died, Kafka went away) ends both."""
    tasks = [
        asyncio.create_task(publish(bootstrap, run.topics.uploads, records, run.rate, run.tally)),
        asyncio.create_task(
            collect(reader, run.tally, run.console, worker=worker, settle_s=SETTLE_S)
        ),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # raises the first failure
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


def _run(run: DemoRun) -> str | None:
    """Runs the demo; the failure message, if any. Ctrl-C propagates as KeyboardInterrupt."""
    note = run.console.note
    external = os.environ.get("KAFKA_BOOTSTRAP")
    note(
        f"Kafka: using KAFKA_BOOTSTRAP={external}"
        if external
        else "Kafka: starting a local broker (the first run resolves its jars with Maven)"
    )
    try:
        with (
            local_kafka() as bootstrap,
            tempfile.TemporaryDirectory(prefix="hashgate-demo-") as run_dir,
        ):
            note(f"Kafka ready at {bootstrap}; demo topics {run.prefix}.*")
            try:
                asyncio.run(_scan(run, bootstrap, Path(run_dir)))
            except DemoError as exc:
                return str(exc)
            finally:
                run.console.end()
                run.children.stop_all(note)
                if external:
                    asyncio.run(delete_topics(bootstrap, run.prefix))
    except LocalKafkaError as exc:
        return f"no Kafka broker: {exc}"
    return None


def run_demo(uploads: int, rate: float, live: bool, summary_json: Path | None) -> int:
    started_at = time.monotonic()
    run_id = secrets.token_hex(4)
    prefix = f"hashgate-demo-{run_id}"
    console = make_console(live, started_at)
    run = DemoRun(
        uploads=uploads,
        rate=rate,
        run_id=run_id,
        prefix=prefix,
        topics=demo_topics(prefix),
        console=console,
        tally=Tally(started_at),
        children=Children(),
    )
    interrupted, failure = False, None
    try:
        failure = _run(run)
    except KeyboardInterrupt:
        interrupted = True
        console.end()
    finally:
        run.children.kill_all()  # only what a second Ctrl-C kept from stopping gracefully
    summary = run.tally.summary(time.monotonic(), interrupted=interrupted)
    click.echo(render_summary(summary))
    if failure:
        click.echo(f"\ndemo failed: {failure}", err=True)
    if summary_json is not None:
        summary_json.write_text(json.dumps({**summary.as_json(), "failure": failure}, indent=2))
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if summary.ok and failure is None else 1


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--uploads",
    default=60,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Well-formed uploads to publish (3 bad records are added).",
)
@click.option(
    "--rate",
    default=6.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=1000),
    help="Records published per second.",
)
@click.option(
    "--live/--no-live",
    default=True,
    show_default=True,
    help="Redraw a live table (only on a terminal) or print one line per outcome.",
)
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the summary to this file as JSON (for CI).",
)
def demo_command(uploads: int, rate: float, live: bool, summary_json: Path | None) -> None:
    """hashgate end to end: local Kafka, PhotoDNA simulator, a worker and live verdicts."""
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("hashgate.localkafka").setLevel(logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # retries while topics appear
    raise SystemExit(run_demo(uploads, rate, live, summary_json))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI timeout, ``kill``) stops the demo the way Ctrl-C does."""
    signal.raise_signal(signal.SIGINT)


def main() -> None:
    # Also when started in the background, where SIGINT arrives ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    demo_command.main(prog_name="python -m hashgate_tools.demo")
