"""Backlog topics: topics whose records may wait while live records go first (rescans, retries).

A backlog topic differs from a live one in two ways, both so that a backlog never holds live
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
"""

from __future__ import annotations

import weakref

from faust.types import AppT

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
