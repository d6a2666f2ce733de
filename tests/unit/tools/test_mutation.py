"""The mutation runner's bookkeeping: what counts as a listed equivalent mutant."""

from __future__ import annotations

from pathlib import Path

from hashgate_tools.mutation import EQUIVALENT, GUARDED, SAFETY_CORE, changed_line

ROOT = Path(__file__).resolve().parents[3]


def test_a_mutant_is_known_by_the_line_it_changed_and_what_it_made_of_it() -> None:
    diff = (
        "--- a/streams/x.py\n+++ b/streams/x.py\n@@ -5,3 +5,3 @@\n"
        "     def f():\n-        if delay > 0:\n+        if delay >= 0:\n             go()\n"
    )
    assert changed_line(diff) == ("if delay > 0:", "if delay >= 0:")


def test_every_listed_equivalent_names_a_line_that_still_exists() -> None:
    # A listing left behind by a change would excuse a mutant of some other line.
    stale = [
        (module, written)
        for module, mutants in EQUIVALENT.items()
        for written, _ in mutants
        if written not in {line.strip() for line in (ROOT / module).read_text().splitlines()}
    ]
    assert stale == []


def test_guarded_and_listed_modules_are_in_the_safety_core() -> None:
    assert set(GUARDED) | set(EQUIVALENT) <= set(SAFETY_CORE)
