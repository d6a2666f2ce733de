"""The share of a stretch in which some task waited for a core, from the kernel's PSI file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.observe import CpuPressure, cpu_waited_us

pytestmark = pytest.mark.unit

PSI = (
    "some avg10=1.50 avg60=0.20 avg300=9.65 total={some}\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=999999999\n"
)


def test_the_some_lines_total_is_what_counts() -> None:
    assert cpu_waited_us(PSI.format(some=1715529385)) == 1715529385


def test_text_without_a_some_line_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'some' line"):
        cpu_waited_us("full avg10=0.00 total=5\n")


def test_share_is_waited_time_over_wall_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 102.0])
    monkeypatch.setattr("bench.observe.time.monotonic", lambda: next(clock))
    psi = tmp_path / "cpu"
    psi.write_text(PSI.format(some=5_000_000))
    pressure = CpuPressure(psi)
    psi.write_text(PSI.format(some=5_500_000))  # half a second waited in two
    assert pressure.share() == pytest.approx(0.25)


def test_no_share_where_the_kernel_keeps_no_pressure(tmp_path: Path) -> None:
    assert CpuPressure(tmp_path / "missing").share() is None
