"""What a run leaves behind: the machine it ran on, a printed table and the JSON of every figure."""

from __future__ import annotations

import json
import os
import platform
import re
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.scenarios import Result, Sizes
from hashgate_tools.localkafka import POM

RESULTS_DIR = Path(__file__).parent / "results"


def _proc_field(path: str, label: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(label):
            return line.split(":", 1)[1].strip()
    return "unknown"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    """Where the figures came from: without it, absolute numbers mean little."""
    ram_kib = int(_proc_field("/proc/meminfo", "MemTotal").split()[0])
    pom = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "ram_gib": round(ram_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kafka_broker": (pom.group(1) if pom else "unknown")
        + (" (KAFKA_BOOTSTRAP)" if os.environ.get("KAFKA_BOOTSTRAP") else ""),
        "aiokafka": version("aiokafka"),
        "faust_streaming": version("faust-streaming"),
        "kernel": platform.release(),
    }


def table(results: list[Result]) -> str:
    header = ("", "scenario", "hashgate", "baseline", "ratio", "aim", "met")
    rows = [
        (
            f"({r.scenario})",
            r.title,
            r.measured,
            r.baseline,
            f"{_ratio(r.ratio, r.spread)} ({r.ratio_means})",
            r.aim,
            {True: "yes", False: "NO", None: "-"}[r.met],
        )
        for r in sorted(results, key=lambda r: r.scenario)
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    rule = "-+-".join("-" * w for w in widths)
    head = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    return "\n".join([head, rule, *lines])


def _ratio(ratio: float, spread: dict[str, list[float]]) -> str:
    """The ratio, and for a repeated scenario its min-max over the runs."""
    if "ratio" not in spread:
        return f"{ratio:.3f}"
    low, _, high = spread["ratio"]
    return f"{ratio:.3f} [{low:.3f}-{high:.3f}]"


def spreads(scenarios: dict[str, Any]) -> list[str]:
    """One line per repeated scenario: min / median / max of each figure its aim is judged on."""
    lines = []
    for key, r in sorted(scenarios.items()):
        if r.get("spread"):
            parts = [
                f"{name} {low:.3f} / {mid:.3f} / {high:.3f}"
                for name, (low, mid, high) in r["spread"].items()
            ]
            lines.append(f"- ({key}) over {len(r['figures']['runs'])} runs: " + "; ".join(parts))
    return lines


def document(
    results: list[Result], *, started: datetime, load: dict[str, list[float]], sizes: Sizes
) -> dict[str, Any]:
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench --only " + "".join(r.scenario for r in results),
        "machine": machine(),
        "load_average": load,
        "sizes": asdict(sizes),
        "scenarios": {r.scenario: asdict(r) for r in results},
    }


def write(doc: dict[str, Any], out_dir: Path, *, latest: list[str]) -> list[Path]:
    """A timestamped copy always (git ignores it); under each name in ``latest`` too (the
    suites this run completed at full size: ``latest.json``, ``latest-state.json``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = [out_dir / f"bench-{stamp}.json", *(out_dir / name for name in latest)]
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    for path in paths:
        path.write_text(text)
    return paths


def markdown(doc: dict[str, Any]) -> str:
    """docs/benchmarks.md's figures: a table row per scenario, and where they were measured."""
    m = doc["machine"]
    lines = [
        "| | scenario | hashgate | baseline (same run) | ratio | aim | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for _, r in sorted(doc["scenarios"].items()):
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        lines.append(
            f"| ({r['scenario']}) | {r['title']} | {r['measured']} | {r['baseline']} "
            f"| {_ratio(r['ratio'], r.get('spread', {}))} ({r['ratio_means']}) | {r['aim']} "
            f"| {met} |"
        )
    repeated = spreads(doc["scenarios"])
    if repeated:
        lines += ["", "Min / median / max over the repeated runs (the row shows the median run):"]
        lines += ["", *repeated]
    loads = ", ".join(f"{k} {v[0]:.1f}" for k, v in doc["load_average"].items())
    lines += [
        "",
        f"Measured {doc['started_at']} on {m['nproc']} cores ({m['cpu_model']}), "
        f"{m['ram_gib']} GiB RAM, Python {m['python']}, Kafka {m['kafka_broker']}, "
        f"aiokafka {m['aiokafka']}, faust-streaming {m['faust_streaming']}; "
        f"1-minute load average, the bench's own processes included: {loads}.",
    ]
    return "\n".join(lines)
