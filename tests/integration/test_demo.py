"""``make demo`` accounts for every record it publishes and leaves no process behind.

The demo runs as the user runs it, a subprocess (``python -m hashgate_tools.demo``), against the
session's broker (``KAFKA_BOOTSTRAP``). Every process it starts inherits a marker variable, so
a leftover simulator or worker is found in /proc whatever its PID or parent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

UPLOADS = 9
BAD_RECORDS = {"undecodable": 1, "not_an_image": 1, "image_size_out_of_range": 1}
MARKER = "HASHGATE_DEMO_TEST_MARK"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def processes_marked(mark: str) -> list[int]:
    """PIDs of live processes (other than this one) whose environment holds ``mark``."""
    needle = f"{MARKER}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


async def start_demo(kafka_bootstrap: str, mark: str, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap, MARKER: mark}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hashgate_tools.demo",
        "--no-live",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def read_until(proc: asyncio.subprocess.Process, wanted: str, within: float) -> str:
    """The demo's output up to the first line containing ``wanted``."""
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(within):
            while wanted not in (line := (await proc.stdout.readline()).decode()):
                if not line:
                    raise AssertionError("the demo ended before printing " + repr(wanted))
                seen.append(line)
    except TimeoutError:
        raise AssertionError(f"no {wanted!r} within {within}s:\n{''.join(seen)}") from None
    return "".join([*seen, line])


async def test_demo_accounts_for_every_record_and_stops_everything(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    mark = uuid.uuid4().hex
    summary_file = tmp_path / "summary.json"
    proc = await start_demo(
        kafka_bootstrap,
        mark,
        "--uploads",
        str(UPLOADS),
        "--rate",
        "20",
        "--summary-json",
        str(summary_file),
    )
    async with asyncio.timeout(300):
        output, _ = await proc.communicate()
    text = output.decode()

    assert proc.returncode == 0, text
    summary = json.loads(summary_file.read_text())
    total = UPLOADS + len(BAD_RECORDS)
    assert summary["planned"] == summary["published"] == summary["accounted"] == total, text
    assert summary["missing"] == [] and summary["unexpected"] == []
    assert summary["dlq"] == BAD_RECORDS
    assert summary["verdicts"]["match"] >= 1
    assert summary["verdicts"]["match"] + summary["verdicts"]["clear"] == UPLOADS
    assert f"accounted for      {total} of {total}" in text
    assert "worker stopped" in text and "simulator stopped" in text
    assert processes_marked(mark) == []


async def test_ctrl_c_stops_every_process_the_demo_started(kafka_bootstrap: str) -> None:
    mark = uuid.uuid4().hex
    proc = await start_demo(kafka_bootstrap, mark, "--uploads", "500", "--rate", "5")
    try:
        await read_until(proc, " clear ", within=240)
        assert len(processes_marked(mark)) >= 3  # the demo, the simulator, the worker
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(120):
            output, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert proc.returncode == 130, output.decode()
    assert "Summary (interrupted)" in output.decode()
    assert processes_marked(mark) == []
