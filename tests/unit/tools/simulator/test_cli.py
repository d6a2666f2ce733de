"""``hashgate simulator``: sample generation, database additions and the server's lifecycle."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from hashgate_tools.simulator import FixedLatency, HashDatabase, LogNormalLatency, UniformLatency
from hashgate_tools.simulator.cli import parse_latency
from streams.cli import cli

pytestmark = pytest.mark.unit

SERVE_KEY = "cli-test-key-93be0d"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def test_generate_samples_is_deterministic(runner: CliRunner, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        result = runner.invoke(
            cli, ["simulator", "generate-samples", "--out", str(tmp_path / folder), "--seed", "3"]
        )
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == 6
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_generated_db_and_add_image_agree(runner: CliRunner, tmp_path: Path) -> None:
    """Hashing the written PNGs with add-image gives the hashes generate-samples recorded."""
    out = tmp_path / "imgs"
    generated_db = tmp_path / "generated.json"
    added_db = tmp_path / "added.json"
    result = runner.invoke(
        cli,
        [
            "simulator",
            "generate-samples",
            "--out",
            str(out),
            "--seed",
            "9",
            "--count",
            "2",
            "--db",
            str(generated_db),
        ],
    )
    assert result.exit_code == 0, result.output
    paths = sorted(str(p) for p in out.iterdir())
    result = runner.invoke(
        cli,
        [
            "simulator",
            "add-image",
            *paths,
            "--db",
            str(added_db),
            "--source",
            "Partner",
            "--violation",
            "A1",
            "--violation",
            "B2",
        ],
    )
    assert result.exit_code == 0, result.output
    generated = HashDatabase.load(generated_db).entries
    added = HashDatabase.load(added_db).entries
    assert [e.pdq for e in added] == [e.pdq for e in generated]
    assert [e.label for e in added] == [e.label for e in generated]
    assert {(e.source, e.violations) for e in added} == {("Partner", ("A1", "B2"))}
    assert [line.split("\t")[0] for line in result.output.splitlines()] == ["100001", "100002"]


def test_add_image_appends_to_an_existing_db(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "imgs"
    db = tmp_path / "db.json"
    runner.invoke(
        cli,
        [
            "simulator",
            "generate-samples",
            "--out",
            str(out),
            "--seed",
            "4",
            "--count",
            "2",
            "--db",
            str(db),
        ],
    )
    extra = tmp_path / "extra"
    runner.invoke(
        cli, ["simulator", "generate-samples", "--out", str(extra), "--seed", "5", "--count", "1"]
    )
    [new_image] = list(extra.iterdir())
    result = runner.invoke(cli, ["simulator", "add-image", str(new_image), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert [e.match_id for e in HashDatabase.load(db).entries] == ["100001", "100002", "100003"]


def test_add_image_refuses_what_the_service_would_refuse(runner: CliRunner, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.png"
    bogus.write_bytes(b"definitely not a png")
    db = tmp_path / "db.json"
    result = runner.invoke(cli, ["simulator", "add-image", str(bogus), "--db", str(db)])
    assert result.exit_code != 0
    assert "3206" in result.output
    assert not db.exists()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0", FixedLatency(ms=0)),
        ("25.5", FixedLatency(ms=25.5)),
        ("10-200", UniformLatency(min_ms=10, max_ms=200)),
        ("lognormal:50:400", LogNormalLatency(median_ms=50, p99_ms=400)),
    ],
)
def test_latency_specs(spec: str, expected: object) -> None:
    assert parse_latency(spec) == expected


@pytest.mark.parametrize("spec", ["fast", "200-10", "lognormal:50", "lognormal:400:50", "-5"])
def test_bad_latency_specs_are_refused(spec: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_latency(spec)


def test_serve_needs_keys(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["simulator", "serve"], env={"HASHGATE_SIMULATOR_KEYS": ""})
    assert result.exit_code != 0
    assert "--keys" in result.output


async def _read_until(stream: asyncio.StreamReader, pattern: re.Pattern[str]) -> re.Match[str]:
    seen: list[str] = []
    async with asyncio.timeout(30):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("server exited before announcing its URL:\n" + "".join(seen))
            seen.append(line)
            if found := pattern.search(line):
                return found


async def test_serve_announces_its_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"status_3004_rate": 1.0}))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from streams.cli import main; main()",
        "simulator",
        "serve",
        "--port",
        "0",
        "--faults",
        str(faults),
        "--seed",
        "1",
        env={**os.environ, "HASHGATE_SIMULATOR_KEYS": f"other-key,{SERVE_KEY}"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        found = await _read_until(process.stderr, re.compile(r"listening on (http://\S+)"))
        base_url = found.group(1)
        assert base_url.endswith("/photodna/v1.0")
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.post(
                f"{base_url}/Match",
                json={"DataRepresentation": "inline", "Value": "aGVsbG8="},
                headers={"Ocp-Apim-Subscription-Key": SERVE_KEY},
            )
        assert response.json()["Status"]["Code"] == 3004  # the faults file was applied
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
        assert SERVE_KEY not in (stdout + stderr).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
