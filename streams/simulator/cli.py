"""``hashgate simulator``: serve the PhotoDNA simulator, manage its database, make test images."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
from pydantic import SecretStr, ValidationError

from streams.errors import ConfigurationError
from streams.observability.logging import configure_logging
from streams.ports import DEFAULT_PORTS, check_port_free
from streams.simulator.config import (
    FaultConfig,
    FixedLatency,
    LogNormalLatency,
    SimulatorConfig,
    UniformLatency,
    packaged_db_path,
)
from streams.simulator.database import HashDatabase
from streams.simulator.images import ImageLimits, PdqHash, check_and_hash
from streams.simulator.runner import RunningSimulator, serve_until_signalled
from streams.simulator.samples import KNOWN_SEED, generate, png_bytes

DB_ENV = "HASHGATE_SIMULATOR_DB"
KEYS_ENV = "HASHGATE_SIMULATOR_KEYS"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=DB_ENV,
    default=packaged_db_path,
    show_default="the packaged database",
    help=f"Hash database file (env {DB_ENV}).",
)


def parse_latency(spec: str) -> FixedLatency | UniformLatency | LogNormalLatency:
    """``50`` (fixed), ``10-200`` (uniform) or ``lognormal:50:400`` (median and p99)."""
    try:
        if spec.startswith("lognormal:"):
            _, median, p99 = spec.split(":")
            return LogNormalLatency(median_ms=float(median), p99_ms=float(p99))
        if "-" in spec:
            low, high = spec.split("-")
            return UniformLatency(min_ms=float(low), max_ms=float(high))
        return FixedLatency(ms=float(spec))
    except (ValueError, ValidationError) as exc:
        raise click.BadParameter(
            f"{spec!r}: use 50, 10-200 or lognormal:50:400 ({exc})", param_hint="--latency-ms"
        ) from None


def _faults(
    faults_file: Path | None, latency: str | None, overrides: dict[str, float | None]
) -> FaultConfig:
    fields = json.loads(faults_file.read_text(encoding="utf-8")) if faults_file else {}
    if latency is not None:
        fields["latency"] = parse_latency(latency).model_dump()
    fields.update({name: value for name, value in overrides.items() if value is not None})
    try:
        return FaultConfig.model_validate(fields)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid faults: {exc}") from None


@click.group("simulator")
def simulator_command() -> None:
    """A local PhotoDNA stand-in: same API, benign test database, injectable faults."""


@simulator_command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", default=DEFAULT_PORTS["simulator"], show_default=True, type=click.IntRange(0, 65535)
)
@click.option("--keys", envvar=KEYS_ENV, required=True, help=f"Comma-separated keys ({KEYS_ENV}).")
@click.option("--quota-rps", default=10.0, show_default=True, type=click.FloatRange(min=0.001))
@db_option
@click.option("--latency-ms", help="50 (fixed), 10-200 (uniform) or lognormal:MEDIAN:P99.")
@click.option("--error-5xx-rate", type=click.FloatRange(0, 1), help="Share answered 5xx.")
@click.option("--status-3004-rate", type=click.FloatRange(0, 1), help="Share with Status 3004.")
@click.option("--timeout-rate", type=click.FloatRange(0, 1), help="Share that hang and drop.")
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file of faults (GET /admin/faults shows the shape); flags override it.",
)
@click.option("--seed", type=int, help="Seed of the fault RNG, for reproducible runs.")
@click.option("--log-level", default="INFO", show_default=True)
def serve_command(
    host: str,
    port: int,
    keys: str,
    quota_rps: float,
    db_path: Path,
    latency_ms: str | None,
    error_5xx_rate: float | None,
    status_3004_rate: float | None,
    timeout_rate: float | None,
    faults_file: Path | None,
    seed: int | None,
    log_level: str,
) -> None:
    """Serve /photodna/v1.0/Match and /Report until SIGTERM or Ctrl-C."""
    secrets = [SecretStr(k.strip()) for k in keys.split(",") if k.strip()]
    configure_logging(log_level.upper(), list(secrets))
    faults = _faults(
        faults_file,
        latency_ms,
        {
            "error_5xx_rate": error_5xx_rate,
            "status_3004_rate": status_3004_rate,
            "timeout_rate": timeout_rate,
        },
    )
    try:
        config = SimulatorConfig(
            keys=tuple(secrets), quota_rps=quota_rps, db_path=db_path, faults=faults, seed=seed
        )
    except ValidationError as exc:
        raise ConfigurationError(f"invalid simulator settings: {exc}") from None

    check_port_free(host, port, "--port")

    def announce(running: RunningSimulator) -> None:
        click.echo(f"PhotoDNA simulator listening on {running.base_url}", err=True)
        click.echo(f"admin API on {running.admin_url}", err=True)

    asyncio.run(serve_until_signalled(config, host, port, announce))


@simulator_command.command("add-image")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@db_option
@click.option("--source", default="Test", show_default=True)
@click.option("--violation", "violations", multiple=True, default=["A1"], show_default=True)
def add_image_command(
    paths: tuple[Path, ...], db_path: Path, source: str, violations: tuple[str, ...]
) -> None:
    """Add the hashes of images to the database (the images themselves are not kept)."""
    db = HashDatabase.load(db_path)
    for path in paths:
        outcome = check_and_hash(path.read_bytes(), ImageLimits())
        if not isinstance(outcome, PdqHash):
            raise click.ClickException(f"{path.name}: {int(outcome.code)} {outcome.detail}")
        entry = db.add(outcome, source=source, violations=violations, label=path.stem)
        click.echo(f"{entry.match_id}\t{entry.pdq}\t{path.name}")
    db.save(db_path)


@simulator_command.command("generate-samples")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=KNOWN_SEED, show_default=True, help="0 makes the known set.")
@click.option("--count", default=6, show_default=True, type=click.IntRange(min=1))
@click.option("--side", default=320, show_default=True, type=click.IntRange(min=16))
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a database holding exactly these images' hashes.",
)
def generate_samples_command(
    out_dir: Path, seed: int, count: int, side: int, db_path: Path | None
) -> None:
    """Write deterministic benign PNGs (seed 0: the known set; other seeds: unknown images)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    db = HashDatabase()
    for sample in generate(seed, count, side):
        (out_dir / sample.name).write_bytes(png_bytes(sample.image))
        db.add(sample.pdq, label=sample.label)
        click.echo(str(out_dir / sample.name))
    if db_path is not None:
        db.save(db_path)
        click.echo(f"{len(db)} hashes written to {db_path}", err=True)
