"""What the demo prints: a live table redrawn in place on a terminal, plain lines otherwise.

The live table is plain ANSI (cursor up, clear to end of screen), so the demo needs nothing
beyond the project's own dependencies; lines are cut to the terminal's width so a redraw
always covers exactly what the previous one drew.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections import deque
from typing import Protocol, TextIO

from hashgate_tools.demo.tally import DLQ, Row, Summary, Tally

#: (title, width) of each column; the last one is as wide as the row needs.
COLUMNS = (("CONTENT", 16), ("TENANT", 10), ("IMAGE", 18), ("VERDICT", 8), ("LATENCY", 11))
SOURCE_TITLE = "SOURCE / REASON"
_VERDICT_COLUMN = 3
_COLORS = {"match": "\x1b[1;31m", "clear": "\x1b[32m", DLQ: "\x1b[33m"}
_RESET = "\x1b[0m"


def _verdict_span() -> tuple[int, int]:
    start = sum(width for _, width in COLUMNS[:_VERDICT_COLUMN])
    return start, start + COLUMNS[_VERDICT_COLUMN][1]


def _cells(cells: tuple[str, ...]) -> str:
    return "".join(
        (cell.rjust(width - 2) + "  ") if title == "LATENCY" else cell[: width - 1].ljust(width)
        for cell, (title, width) in zip(cells, COLUMNS, strict=True)
    )


def header() -> str:
    return _cells(tuple(title for title, _ in COLUMNS)) + SOURCE_TITLE


def format_row(row: Row) -> str:
    verdict = row.outcome.upper() if row.outcome == "match" else row.outcome
    text = _cells((row.content, row.tenant, row.image, verdict, f"{row.latency_ms:,.0f} ms"))
    text += row.detail or "-"
    if not row.as_expected:
        text += f"   << expected {row.expected.value}"
    if row.duplicate:
        text += "   (duplicate delivery)"
    return text


def colorize(line: str, outcome: str) -> str:
    start, end = _verdict_span()
    if len(line) < end:
        return line
    return line[:start] + _COLORS[outcome] + line[start:end] + _RESET + line[end:]


def status_line(tally: Tally, now: float) -> str:
    counts = tally.counts()
    return (
        f"published {len(tally.sent_at)}/{len(tally.planned)} · match {counts['match']} · "
        f"clear {counts['clear']} · DLQ {counts[DLQ]} · in the worker {tally.pending} · "
        f"{now - tally.started_at:.0f}s"
    )


class Console(Protocol):
    def note(self, text: str) -> None:
        """A step of the demo (starting Kafka, worker ready...)."""

    def begin(self, tally: Tally) -> None:
        """Outcomes start arriving from now on."""

    def outcome(self, row: Row) -> None: ...

    def refresh(self) -> None:
        """Called on every change and a few times a second."""

    def end(self) -> None: ...


class LineConsole:
    """One line per step and per outcome: for CI logs, pipes and ``--no-live``."""

    def __init__(self, started_at: float, out: TextIO = sys.stdout) -> None:
        self._started_at = started_at
        self._out = out

    def _print(self, text: str) -> None:
        print(f"[{time.monotonic() - self._started_at:6.1f}s] {text}", file=self._out, flush=True)

    def note(self, text: str) -> None:
        self._print(text)

    def begin(self, tally: Tally) -> None:
        self._print(header())

    def outcome(self, row: Row) -> None:
        self._print(format_row(row))

    def refresh(self) -> None:
        """Lines need no redraw."""

    def end(self) -> None:
        """Nothing is left open."""


class LiveConsole:
    """The newest outcomes as a table redrawn in place, with a status line under it."""

    def __init__(self, started_at: float, out: TextIO = sys.stdout) -> None:
        self._started_at = started_at
        self._out = out
        self._tally: Tally | None = None
        size = shutil.get_terminal_size((100, 30))
        self._width = size.columns - 1
        self._rows: deque[Row] = deque(maxlen=max(5, min(size.lines - 6, 30)))
        self._drawn: list[str] = []
        self._last_note = ""

    def note(self, text: str) -> None:
        if self._tally is None:
            print(f"  {text}", file=self._out, flush=True)
        else:
            self._last_note = text
            self.refresh()

    def begin(self, tally: Tally) -> None:
        self._tally = tally
        print(file=self._out)
        self.refresh()

    def outcome(self, row: Row) -> None:
        self._rows.append(row)
        self.refresh()

    def refresh(self) -> None:
        if self._tally is None:
            return
        status = status_line(self._tally, time.monotonic())
        if self._last_note:
            status += f" · {self._last_note}"
        lines = [header()[: self._width]]
        lines += [colorize(format_row(row)[: self._width], row.outcome) for row in self._rows]
        lines.append(status[: self._width])
        if lines == self._drawn:
            return
        up = f"\x1b[{len(self._drawn)}F" if self._drawn else ""
        self._out.write(up + "\x1b[J" + "\n".join(lines) + "\n")
        self._out.flush()
        self._drawn = lines

    def end(self) -> None:
        self.refresh()
        self._tally = None


def make_console(live: bool, started_at: float) -> Console:
    """The live table only on a terminal that can redraw; plain lines otherwise."""
    dumb = os.environ.get("TERM", "dumb") == "dumb"
    if live and sys.stdout.isatty() and not dumb:
        return LiveConsole(started_at)
    return LineConsole(started_at)


def render_summary(summary: Summary) -> str:
    dlq = ", ".join(f"{reason} {n}" for reason, n in summary.dlq.items()) or "none"
    latency = summary.latency_ms
    lines = [
        "",
        "Summary" + (" (interrupted)" if summary.interrupted else ""),
        f"  records published  {summary.published} of {summary.planned}",
        f"  verdicts           match {summary.verdicts['match']}, "
        f"clear {summary.verdicts['clear']}",
        f"  DLQ                {sum(summary.dlq.values())} ({dlq})",
        f"  accounted for      {summary.accounted} of {summary.published}"
        + (f"; missing: {', '.join(summary.missing)}" if summary.missing else ""),
        f"  as expected        {summary.accounted - len(summary.unexpected)} "
        f"of {summary.accounted}",
        *(f"    unexpected: {line}" for line in summary.unexpected),
        f"  latency            p50 {latency['p50']:,.0f} ms, p95 {latency['p95']:,.0f} ms, "
        f"max {latency['max']:,.0f} ms (publish to outcome)",
        f"  elapsed            {summary.elapsed_s:.1f} s "
        f"(first upload to last outcome {summary.scan_s:.1f} s)",
    ]
    if summary.duplicates:
        lines.append(f"  duplicates         {summary.duplicates} (same verdict ids)")
    return "\n".join(lines)
