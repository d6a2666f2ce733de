"""Starts what the demo runs against: the image server, the PhotoDNA simulator and the worker.

The simulator and the worker are the real commands (``hashgate simulator serve``,
``python -m streams worker``) in subprocesses, configured the way an operator would configure
them: command-line flags and ``HASHGATE_*`` variables.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hashgate_tools.demo.children import Children
from hashgate_tools.harness.host import free_port
from hashgate_tools.harness.processes import Process, Simulator, http_ok
from hashgate_tools.harness.processes import start_simulator as harness_simulator
from streams.settings import TopicSettings

#: The simulator's per-key quota and the worker's matching client-side rate.
QUOTA_RPS = 20
#: Latency the simulator adds to each Match call: median and p99 in milliseconds.
LATENCY = "lognormal:80:400"
WORKER_READY_TIMEOUT_S = 120.0
SIMULATOR_READY_TIMEOUT_S = 30.0
#: The worker drains in-flight scans for up to this long on SIGTERM.
WORKER_GRACE_S = 5


class DemoError(RuntimeError):
    """A part of the demo could not start; the message says which and shows its log."""


def demo_topics(prefix: str) -> TopicSettings:
    """Every topic name under ``prefix``, so a demo never touches a cluster's real topics."""
    defaults = TopicSettings()
    names = {
        name: f"{prefix}.{getattr(defaults, name)}"
        for name, field in TopicSettings.model_fields.items()
        if field.annotation is str
    }
    return TopicSettings(**names, partitions=4)


def topic_env(topics: TopicSettings) -> dict[str, str]:
    return {
        f"HASHGATE_TOPICS__{name.upper()}": str(getattr(topics, name))
        for name in TopicSettings.model_fields
    }


async def _wait_until_ok(child: Process, url: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    try:
        await child.wait_until(lambda: http_ok(url), within=timeout_s, what=f"answer from {url}")
    except RuntimeError as exc:
        raise DemoError(str(exc)) from None


async def start_simulator(children: Children, run_dir: Path, key: str) -> Simulator:
    """The harness's simulator, stopped with the demo's other children."""
    try:
        simulator = await harness_simulator(
            run_dir,
            "simulator",
            key,
            quota_rps=QUOTA_RPS,
            latency_ms=LATENCY,
            within=SIMULATOR_READY_TIMEOUT_S,
        )
    except RuntimeError as exc:
        raise DemoError(str(exc)) from None
    children.adopt(simulator.process, stop_timeout_s=10)
    return simulator


async def start_worker(
    children: Children,
    run_dir: Path,
    *,
    bootstrap: str,
    endpoint: str,
    key: str,
    topics: TopicSettings,
    group: str,
) -> Process:
    """Start ``hashgate worker`` and wait until /readyz says it consumes."""
    port = free_port()
    env = {
        **os.environ,
        **topic_env(topics),
        "HASHGATE_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "HASHGATE_KAFKA__CONSUMER_GROUP": group,
        "HASHGATE_PHOTODNA__ENDPOINT": endpoint,
        "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY": key,
        "HASHGATE_PHOTODNA__KEY_QUOTA_RPS": str(QUOTA_RPS),
        "HASHGATE_SCAN__SHUTDOWN_GRACE_S": str(WORKER_GRACE_S),
        "HASHGATE_WEB__PORT": str(port),
        "HASHGATE_LOG_LEVEL": "INFO",
    }
    argv = [sys.executable, "-m", "streams", "worker"]
    # faust keeps a data folder in its working directory: the run folder, removed at the end.
    child = children.start("worker", argv, env, run_dir, stop_timeout_s=WORKER_GRACE_S + 25)
    await _wait_until_ok(child, f"http://127.0.0.1:{port}/readyz", WORKER_READY_TIMEOUT_S)
    return child
