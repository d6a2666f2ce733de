"""The runbook (docs/operations.md), parsed: what it quotes, so tests can hold it to the code.

Every inline code span of the runbook is a metric, a setting, a command, a page, an identifier,
a listed non-log span or a log line with a test behind it (tests/unit/test_runbook.py holds the
map); a new span that is none of these fails that test.
"""

from __future__ import annotations

import re
from pathlib import Path

from streams.readme_blocks import ReadmeBlock

README = Path(__file__).parents[1] / "docs" / "operations.md"
RUNBOOK = ReadmeBlock("runbook", "edit docs/operations.md")

#: A fenced code block (commands, sample output): not prose, so its backticks quote nothing.
FENCED = re.compile(r"^[ \t]*```.*?^[ \t]*```[^\n]*", re.MULTILINE | re.DOTALL)
#: A metric as the runbook names it, with or without labels: ``hashgate_x_total{lane}``.
METRIC = re.compile(r"(hashgate_[a-z_]+)(?:\{[^}]*\})?")


def runbook_text() -> str:
    return RUNBOOK.read(README.read_text())


def section(title: str) -> str:
    """One ``### title`` section of the runbook, up to the next one."""
    text = runbook_text()
    start = text.index(f"### {title}\n")
    end = text.find("\n### ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def code_spans() -> list[str]:
    """Every inline code span of the runbook once, in order, line breaks read as spaces."""
    prose = FENCED.sub("", runbook_text())
    return list(dict.fromkeys(" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)))


def quoted_metrics() -> set[str]:
    """The metric names the runbook quotes (labels dropped)."""
    return {match[1] for span in code_spans() if (match := METRIC.fullmatch(span))}


def exit_codes() -> set[int]:
    """The codes of the runbook's exit-code table."""
    table = section("Health pages, metrics and exit codes").split("| Exit code | Meaning |")[1]
    return {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
