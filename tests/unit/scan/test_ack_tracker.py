"""The in-order ack tracker: no completion order may ever ack past an unfinished offset."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.scan.ack_tracker import AckTracker, PartitionAcks


@st.composite
def offsets_and_completion_order(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    gaps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=60))
    offsets, offset = [], draw(st.integers(min_value=0, max_value=1000))
    for gap in gaps:  # compacted topics and transactions leave gaps between offsets
        offsets.append(offset)
        offset += gap
    order = draw(st.permutations(range(len(offsets))))
    finished = draw(st.integers(min_value=0, max_value=len(offsets)))
    return offsets, list(order[:finished])


# No deadline per example: on a loaded machine one may take long, which is no fault.
@settings(deadline=None)
@given(offsets_and_completion_order())
def test_no_completion_order_acks_past_an_unfinished_offset(
    case: tuple[list[int], list[int]],
) -> None:
    offsets, completion = case
    acked: list[int] = []
    queue = PartitionAcks()
    tickets = [queue.track(o, lambda o=o: acked.append(o)) for o in offsets]  # type: ignore[misc]
    done: set[int] = set()
    for index in completion:
        queue.finish(tickets[index])
        done.add(offsets[index])
        # Invariant: acked is exactly the longest finished prefix, in offset order.
        prefix = []
        for o in offsets:
            if o not in done:
                break
            prefix.append(o)
        assert acked == prefix
    unfinished = [o for o in offsets if o not in done]
    if unfinished:
        assert all(a < unfinished[0] for a in acked)
    else:
        assert acked == offsets and len(queue) == 0


def test_partitions_are_independent_and_forgetting_one_drops_its_acks() -> None:
    acked: list[tuple[int, int]] = []
    tracker = AckTracker()
    a0 = tracker.track("t", 0, 10, lambda: acked.append((0, 10)))
    b0 = tracker.track("t", 1, 5, lambda: acked.append((1, 5)))
    a1 = tracker.track("t", 0, 11, lambda: acked.append((0, 11)))
    assert tracker.finish("t", 0, a1) == []
    assert tracker.finish("t", 1, b0) == [5]
    assert tracker.forget("t", 0) == 2
    assert tracker.finish("t", 0, a0) == []  # revoked while running: never acked here
    assert acked == [(1, 5)]
    assert tracker.pending() == 0


def test_offsets_must_increase_within_a_partition() -> None:
    queue = PartitionAcks()
    queue.track(3, lambda: None)
    try:
        queue.track(3, lambda: None)
    except ValueError:
        pass
    else:
        raise AssertionError("a repeated offset must be refused")


@pytest.mark.parametrize(("taken", "next_offset"), [([10], 10), ([10], 9), ([5, 10], 7)])
def test_a_partition_refuses_an_offset_that_is_not_after_its_last(
    taken: list[int], next_offset: int
) -> None:
    queue = PartitionAcks()
    for offset in taken:
        queue.track(offset, lambda: None)

    with pytest.raises(ValueError, match=f"offset {next_offset} is not after {taken[-1]}$"):
        queue.track(next_offset, lambda: None)
    assert len(queue) == len(taken)


def test_forgetting_a_partition_never_seen_drops_nothing() -> None:
    tracker = AckTracker()
    tracker.track("t", 0, 1, lambda: None)

    assert tracker.forget("t", 7) == 0
    assert tracker.pending() == 1


def test_pending_counts_every_record_until_it_is_acked_or_its_partition_forgotten() -> None:
    tracker = AckTracker()
    tickets = [tracker.track("t", p, o, lambda: None) for p in (0, 1) for o in (1, 2, 3)]
    with pytest.raises(ValueError):
        tracker.track("t", 0, 2, lambda: None)  # refused: not counted
    assert tracker.pending() == 6
    assert tracker.finish("t", 0, tickets[1]) == []  # done, but behind an unfinished head
    assert tracker.pending() == 6
    assert tracker.finish("t", 0, tickets[0]) == [1, 2]
    assert tracker.pending() == 4
    assert tracker.forget("t", 1) == 3
    assert tracker.pending() == 1
    assert tracker.finish("t", 1, tickets[3]) == []  # its partition was forgotten
    assert tracker.pending() == 1
    assert tracker.finish("t", 0, tickets[2]) == [3]
    assert tracker.pending() == 0
