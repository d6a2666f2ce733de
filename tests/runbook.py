"""The runbook (docs/operations.md), parsed: what it quotes, so tests can hold it to the code.

Every metric name, exit code and log line the runbook quotes has a test behind it (see
tests/unit/test_runbook.py for the map); a new quote without one fails that test.
"""

from __future__ import annotations

import re
from pathlib import Path

from streams.readme_blocks import ReadmeBlock

README = Path(__file__).parents[1] / "docs" / "operations.md"
RUNBOOK = ReadmeBlock("runbook", "edit docs/operations.md")


def runbook_text() -> str:
    return RUNBOOK.read(README.read_text())


def section(title: str) -> str:
    """One ``### title`` section of the runbook, up to the next one."""
    text = runbook_text()
    start = text.index(f"### {title}\n")
    end = text.find("\n### ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def quoted_metrics() -> set[str]:
    return set(re.findall(r"`(hashgate_[a-z_]+)`", runbook_text()))


def exit_codes() -> set[int]:
    """The codes of the runbook's exit-code table."""
    table = section("Health pages, metrics and exit codes").split("| Exit code | Meaning |")[1]
    return {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
