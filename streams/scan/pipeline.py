"""Bounded concurrency that never loses an offset.

The agent hands each record to ``submit``; it waits while the worker is full, so a slow or
down PhotoDNA stops the agent from taking more records (Kafka's lag grows, memory doesn't).
Each record runs as its own task, after the previous record with the same key, and is acked
only once its outcome is confirmed written and every earlier offset of its partition is acked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from streams.kafka.record import SourceRecord
from streams.scan.ack_tracker import AckTracker, Ticket
from streams.scan.key_chain import KeyChain

log = logging.getLogger(__name__)

Handler = Callable[[SourceRecord], Awaitable[None]]


class FatalScanError(Exception):
    """Wraps an error that must stop the worker (nothing more may be acked), with the record
    that met it."""

    def __init__(
        self,
        message: str,
        *,  # pragma: no mutate (every caller passes record by name)
        record: SourceRecord,
    ) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True)  # pragma: no mutate (nothing writes to a report)
class DrainReport:
    finished: int
    abandoned: int


class ScanPipeline:
    """Runs ``handler`` for each submitted record with bounds on tasks and unacked records.

    ``handler`` must write the record's outcome (verdict, retry or DLQ record) and return only
    once Kafka confirmed the write; it raises ``FatalScanError`` for errors that must stop the
    worker. Any other exception is a bug in the handler: the record is left unacked and the
    worker is stopped too, because acking it would skip the event. Either way the pipeline
    takes no more records and records the error in ``failed``; whoever runs the worker awaits
    ``wait_failed`` and stops it.
    """

    def __init__(
        self,
        handler: Handler,
        *,  # pragma: no mutate (every caller passes these by name)
        max_in_flight: int,
        max_unacked: int,
        name: str = "scan",
    ) -> None:
        if max_unacked < max_in_flight:
            raise ValueError("max_unacked must be at least max_in_flight")
        self.name = name
        self.max_in_flight = max_in_flight
        self._handler = handler
        self._max_unacked = max_unacked
        self._slots = asyncio.Semaphore(max_in_flight)
        self._room = asyncio.Event()
        self._acks = AckTracker()
        self._chain = KeyChain()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.failed: BaseException | None = None
        self._has_failed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def unacked(self) -> int:
        return self._acks.pending()

    async def submit(
        self,
        record: SourceRecord,
        ack: Callable[[], None],
        still_current: Callable[[], bool] = lambda: True,
    ) -> bool:
        """Start ``record`` once there is room; False if the pipeline stopped meanwhile.

        ``still_current`` is asked once there is room: a record taken before a rebalance that
        began while it waited belongs to a partition this worker may no longer own, or owns
        again from its committed offset, which faust reads again. Such a record is left alone
        (not started, not acked) and the agent goes on.
        """
        while self._acks.pending() >= self._max_unacked and not self._stopping:  # pragma: no mutate
            self._room.clear()
            await self._room.wait()
        await self._slots.acquire()
        if self._stopping:
            self._slots.release()
            return False
        if not still_current():
            self._slots.release()
            log.info(
                "not starting %s[%d]@%d: a rebalance began while it waited; it is read again",
                record.topic,
                record.partition,
                record.offset,
            )
            return True
        ticket = self._acks.track(record.topic, record.partition, record.offset, ack)
        previous, mine = self._chain.enqueue(record.key)
        task = asyncio.create_task(self._run(record, ticket, previous, mine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(
        self,
        record: SourceRecord,
        ticket: Ticket,
        previous: asyncio.Future[None] | None,
        mine: asyncio.Future[None],
    ) -> None:
        try:
            if previous is not None:
                await asyncio.shield(previous)
            await self._handler(record)
        except asyncio.CancelledError:
            raise
        except FatalScanError as exc:
            log.error(
                "a fatal error met record %s[%d]@%d: %s",
                exc.record.topic,
                exc.record.partition,
                exc.record.offset,
                exc,
            )
            self._fail(exc.__cause__ or exc)
        except Exception as exc:  # an unknown bug: stop rather than skip the record
            log.exception(
                "scan handler failed unexpectedly; stopping without acking",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            self._fail(exc)
        else:
            if self._acks.finish(record.topic, record.partition, ticket):
                self._room.set()
        finally:
            self._chain.release(record.key, mine)
            self._slots.release()

    def _fail(self, exc: BaseException) -> None:
        if self.failed is None:
            self.failed = exc
            self.stop_taking()
            self._has_failed.set()

    async def wait_failed(self) -> BaseException:
        """Returns, once a record met an error that must stop the worker, that error."""
        await self._has_failed.wait()
        assert self.failed is not None
        return self.failed

    def stop_taking(self) -> None:
        """Refuse new records from now on; running ones carry on."""
        self._stopping = True
        self._room.set()

    def forget_partitions(self, partitions: set[tuple[str, int]]) -> int:
        """Revoked partitions: their unacked records are another worker's now.

        Wakes a ``submit`` waiting for room: the forgotten records made some, and no finish of
        theirs will signal it (their queue is gone).
        """
        forgotten = sum(self._acks.forget(topic, partition) for topic, partition in partitions)
        self._room.set()
        return forgotten

    async def drain(self, grace_s: float) -> DrainReport:
        """Stop taking records; let running ones finish within ``grace_s``; cancel the rest.

        Cancelled records stay unacked, so whoever owns their partition next scans them again.
        """
        self.stop_taking()
        running = set(self._tasks)
        if not running:
            return DrainReport(finished=0, abandoned=0)
        _, pending = await asyncio.wait(running, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)  # pragma: no mutate (see docs/mutation.md)
        return DrainReport(finished=len(running) - len(pending), abandoned=len(pending))
