"""The rescan and DLQ commands refuse unsafe or malformed requests before touching Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from streams.rescan.cli import TIMESTAMP, dlq_command, rescan_command

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--all"),
        (["--since", "2026-06-02", "--until", "2026-06-01"], "before --until"),
        (["--since", "yesterday"], "not an ISO 8601 time"),
        (["--all", "--rescan-id", "x" * 257], "1 to 256 characters"),
    ],
)
def test_start_refuses_before_connecting(args: list[str], message: str) -> None:
    result = CliRunner().invoke(rescan_command, ["start", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_times_without_a_zone_are_utc_and_zones_are_kept() -> None:
    assert TIMESTAMP.convert("2026-06-01T12:00", None, None) == datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert TIMESTAMP.convert("2026-06-01T14:00+02:00", None, None) == datetime(
        2026, 6, 1, 12, tzinfo=UTC
    )


def test_replay_accepts_only_known_reasons() -> None:
    result = CliRunner().invoke(dlq_command, ["replay", "--reason", "bad_luck"])
    assert result.exit_code == 2
    assert "media_unreachable" in result.output
