"""(m) quota savers: 30% exact duplicates and 2% bank matches at a fixed quota, in bytes mode.

The same workload runs twice, on fresh topics: with the duplicate cache and a bank holding the
2%, and with both off. What the savers buy is calls per verdict (at most 0.70) and, since the
quota is what bounds the scan rate, verdicts per second (at least 1.4 times the baseline's).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.lab import WORKER, BacklogRun, Lab
from bench.workload import Upload
from hashgate_tools.harness.processes import Simulator
from hashgate_tools.harness.worker import upload

DUPLICATE_SHARE = 0.30
BANK_SHARE = 0.02
QUOTA_RPS = 10.0
BYTES_MODE = {
    "HASHGATE_MEDIA__DELIVERY_MODE": "bytes",
    "HASHGATE_MEDIA__ALLOW_HOSTS": '["127.0.0.1"]',
}


@dataclass(frozen=True)
class SaverWorkload:
    records: list[Upload]
    bank_csv: str
    distinct: int


def _picture(rng: random.Random) -> bytes:
    """A distinct 256x256 PNG PhotoDNA takes (a few random blocks on a random ground)."""
    image = Image.new("RGB", (256, 256), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(6):
        x, y = rng.randrange(200), rng.randrange(200)
        block = Image.new("RGB", (56, 56), tuple(rng.randrange(256) for _ in range(3)))
        image.paste(block, (x, y))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def saver_workload(
    count: int, folder: Path, url_of: Callable[[str], str], seed: int = 19
) -> SaverWorkload:
    """``count`` uploads: 30% repeat an earlier image byte for byte, 2% are bank entries."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    banked = round(count * BANK_SHARE)
    duplicates = round(count * DUPLICATE_SHARE)
    fresh = count - banked - duplicates
    names: list[str] = []
    bank_rows = ["signal,hash,id"]
    for n in range(fresh + banked):
        data = _picture(rng)
        name = f"saver-{n}.png"
        (folder / name).write_bytes(data)
        names.append(name)
        if n >= fresh:
            bank_rows.append(f"sha256,{hashlib.sha256(data).hexdigest()},bench-{n}")
    order = names[:fresh] + names[fresh:]
    rng.shuffle(order)
    # each duplicate repeats an image of the fresh kind, placed after its first upload
    sequence = list(order)
    for _ in range(duplicates):
        at = rng.randrange(1, len(sequence) + 1)
        earlier = [s for s in sequence[:at] if int(s[6:-4]) < fresh]
        sequence.insert(at, rng.choice(earlier) if earlier else names[0])
    records = []
    for n, name in enumerate(sequence):
        event = upload(n, url_of(name))
        records.append(Upload(event.event_id, event.key, event.encode()))
    return SaverWorkload(records, "\n".join(bank_rows) + "\n", fresh)


async def import_bank(lab: Lab, run_env: dict[str, str], csv_text: str) -> None:
    path = lab.log_dir / "bench-bank.csv"
    path.write_text(csv_text)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streams",
        "banks",
        "import",
        str(path),
        "--bank",
        "bench",
        env=run_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"hashgate banks import failed: {err.decode()[-2000:]}")


async def run_savers(
    lab: Lab, sim: Simulator, workload: SaverWorkload, *, savers: bool
) -> tuple[BacklogRun, int]:
    """One pass over the workload; returns the run and the PhotoDNA calls it made."""
    extra = {
        **BYTES_MODE,
        "HASHGATE_PHOTODNA__KEY_QUOTA_RPS": str(QUOTA_RPS),
        "HASHGATE_CACHE__ENABLED": "true" if savers else "false",
        "HASHGATE_BANKS__ENABLED": "true" if savers else "false",
    }
    async with sim.admin() as admin:
        await admin.reset_stats()
    run = await lab.run_backlog(
        f"worker-h-{'savers' if savers else 'plain'}",
        WORKER,
        sim,
        len(workload.records),
        expected_eps=QUOTA_RPS,
        records=workload.records,
        before_start=(lambda env: import_bank(lab, env, workload.bank_csv)) if savers else None,
        extra_env=extra,
    )
    async with sim.admin() as admin:
        calls = (await admin.stats()).total_requests
    return run, calls
