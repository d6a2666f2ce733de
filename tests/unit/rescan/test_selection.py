"""Which uploads a rescan selects: time range, tenants, content ids, once per event id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.rescan.selection import Selection, Selector, read_ids_file
from tests.support import make_upload

pytestmark = pytest.mark.unit

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def upload(n: int, *, tenant: str = "acme", content_id: str | None = None) -> bytes:
    return make_upload(n, tenant=tenant, content_id=content_id or f"c-{n}", uploaded_at=T0).encode()


def test_the_time_range_includes_since_and_excludes_until() -> None:
    selector = Selector(Selection(since=T0, until=T0 + timedelta(hours=1)))
    picked = [
        selector.pick(upload(n), ms(T0 + timedelta(minutes=m)))
        for n, m in enumerate([-1, 0, 59, 60])
    ]
    assert [p is not None for p in picked] == [False, True, True, False]


def test_tenants_and_content_ids_must_both_match() -> None:
    selector = Selector(Selection(tenants=frozenset({"acme"}), content_ids=frozenset({"c-1"})))
    assert selector.pick(upload(1), ms(T0)) is not None
    assert selector.pick(upload(2), ms(T0)) is None  # other content
    assert selector.pick(upload(3, tenant="other", content_id="c-1"), ms(T0)) is None


def test_an_upload_event_published_twice_is_rescanned_once() -> None:
    selector = Selector(Selection())
    assert selector.pick(upload(1), ms(T0)) is not None
    assert selector.pick(upload(1), ms(T0)) is None
    assert (selector.counts.selected, selector.counts.duplicates) == (1, 1)


@pytest.mark.parametrize("value", [None, b"", b"not json", b'{"schema_version": 9}'])
def test_records_that_are_not_upload_events_are_counted_and_skipped(value: bytes | None) -> None:
    selector = Selector(Selection())
    assert selector.pick(value, ms(T0)) is None
    assert (selector.counts.read, selector.counts.invalid, selector.counts.selected) == (1, 1, 0)


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        Selection(since=T0, until=T0)


def test_no_filter_at_all_is_recognised_so_the_command_can_ask_for_all() -> None:
    assert Selection().is_everything
    assert not Selection(tenants=frozenset({"acme"})).is_everything


def test_the_ids_file_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# from ticket 42\nc-1\n\n  c-2  \nc-1\n")
    assert read_ids_file(path) == {"c-1", "c-2"}


def test_an_ids_file_without_ids_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="no content ids"):
        read_ids_file(path)
