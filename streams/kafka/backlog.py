"""Backlog topics: topics whose records may wait while live records go first (rescans, retries).

A backlog topic differs from a live one in three ways, all so that a backlog never holds live
uploads back:

- its agent's queue is short (``BACKLOG_BUFFER``). faust stops fetching a topic once its agent's
  queue passed 80% and fetches it again at 40%; with faust's default of 4,096 each refill put
  about 1,640 rescan requests ahead of the live ones, and live uploads waited 300-500 ms for
  them in the bench's (g).
- each poll of the consumer hands out the fetched records of every other topic first and fills
  what is left of the poll from the backlog topics (streams/kafka/transport.py). aiokafka hands
  a poll out in the order the partitions' records were fetched, and a rescan partition keeps
  thousands of fetched records, so a live upload fetched after them waited for every poll of
  rescans that refilled the agent's queue.
- a backlog partition whose last fetch found nothing after its position sits out the
  fetches of the next ``REVISIT_S`` (``IdleBacklog``). aiokafka asks for every fetchable
  partition in every fetch, and the worker's two backlog topics are two thirds of its
  partitions: at half capacity, fetching their idle partitions with every live one cost the
  live lane 0.4-0.7 ms at p50 and much of its p99 in the bench's (e) (docs/benchmarks.md).
  Sitting out loses nothing, since the partition keeps its position; a record that reaches an
  idle backlog partition waits at most ``REVISIT_S`` plus one fetch's wait longer to be
  fetched.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Collection, Iterable

from faust.types import TP, AppT

#: How long a backlog partition whose last fetch found nothing after its position sits out
#: fetches; an idle worker's fetch waits as long (streams/kafka/fetch_wait.py), so an idle
#: worker still asks for every partition in every fetch.
REVISIT_S = 0.5

#: A backlog topic's agent queue (faust's default is 4096). 320 records refill 128 at a time,
#: cover a fetch's round trip at any scan rate, and leave 64 past the 80% mark for one poll
#: (streams/kafka/app.py, POLL_RECORDS).
BACKLOG_BUFFER = 320

_BACKLOG_TOPICS: weakref.WeakKeyDictionary[AppT, set[str]] = weakref.WeakKeyDictionary()


def mark_backlog(app: AppT, name: str) -> None:
    """Hand out topic ``name``'s records last in ``app``'s polls."""
    _BACKLOG_TOPICS.setdefault(app, set()).add(name)


def backlog_topics(app: AppT) -> frozenset[str]:
    """The names of ``app``'s backlog topics."""
    return frozenset(_BACKLOG_TOPICS.get(app, ()))


class IdleBacklog:
    """Which backlog partitions sit out the next fetch: those asked for less than
    ``revisit_s`` ago at the position they are still at, whose last fetch answer said nothing
    lies beyond it. Records fetched and then dropped (faust paused the topic meanwhile) leave
    the position where it was but the high watermark above it: such a partition is asked for
    again at once."""

    def __init__(
        self,
        topics: Collection[str],
        revisit_s: float = REVISIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = frozenset(topics)
        self.revisit_s = revisit_s
        self._clock = clock
        self._asked: dict[TP, tuple[int, float]] = {}

    def sitting_out(
        self, assigned: Collection[TP], drained_at: Callable[[TP], int | None]
    ) -> set[TP]:
        """The ``assigned`` backlog partitions the next fetch leaves out; ``drained_at(tp)``:
        where tp's next fetch starts if its last fetch answer said nothing lies beyond, else
        None."""
        now = self._clock()
        return {
            tp
            for tp, (offset, when) in self._asked.items()
            if now - when < self.revisit_s and tp in assigned and drained_at(tp) == offset
        }

    def asked(self, fetched: Iterable[tuple[TP, int]]) -> None:
        """A fetch was sent for these partitions, each from that position."""
        now = self._clock()
        for tp, position in fetched:
            if tp.topic in self.topics:
                self._asked[tp] = (position, now)
