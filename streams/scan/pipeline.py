"""Bounded concurrency that never loses an offset, with each lane's writes in rounds.

The agent hands each record to ``submit``; it waits while the worker is full, so a slow or
down PhotoDNA stops the agent from taking more records (Kafka's lag grows, memory doesn't).
Each record is scanned by a task of its own, after the previous record with the same key is
written, so one slow image holds up only itself. The lane's writer then writes every outcome
scanned since its last round together: records are taken one at a time, but the broker's
confirmations are waited for once a round, not once a record (docs/benchmarks.md). A record is
acked only once its outcome is confirmed written and every earlier offset of its partition is
acked. An outcome whose write failed in a round is written again by a task of its own, retried
until confirmed: a write that keeps failing holds up only its own key and partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from streams.kafka.record import SourceRecord
from streams.scan.ack_tracker import AckTracker, Ticket
from streams.scan.key_chain import KeyChain

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest the lane's writer waits for a round before it starts the next one anyway: a round
#: normally takes two of the broker's round trips, milliseconds.
ROUND_WAIT_S = 1.0  # pragma: no mutate (a tuning figure: its test sets its own)


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


@dataclass(slots=True)  # pragma: no mutate (slots only save memory: one is made per record)
class _Scanned(Generic[T]):
    """A record whose scan ended, waiting for the lane's writer."""

    record: SourceRecord
    ticket: Ticket
    mine: asyncio.Future[None]
    outcome: T


class ScanPipeline(Generic[T]):
    """Scans each submitted record with ``scan`` and writes the outcomes with ``write_round``.

    ``scan`` returns the record's outcome; it raises ``FatalScanError`` for errors that must
    stop the worker. ``write_round`` writes a round of outcomes, each once, and says which
    were confirmed; ``write`` writes one outcome, retrying until Kafka confirmed it. Any other
    exception is a bug: its records are left unacked and the worker is stopped too, because
    acking them would skip their events. Either way the pipeline takes no more records and
    records the error in ``failed``; whoever runs the worker awaits ``wait_failed`` and stops it.
    """

    def __init__(
        self,
        scan: Callable[[SourceRecord], Awaitable[T]],
        write_round: Callable[[Sequence[T]], Awaitable[list[bool]]],
        write: Callable[[T], Awaitable[None]],
        *,  # pragma: no mutate (every caller passes these by name)
        max_in_flight: int,
        max_unacked: int,
        name: str = "scan",
    ) -> None:
        if max_unacked < max_in_flight:
            raise ValueError("max_unacked must be at least max_in_flight")
        self.name = name
        self.max_in_flight = max_in_flight
        self._scan_record = scan
        self._write_round = write_round
        self._write = write
        self._max_unacked = max_unacked
        self._slots = asyncio.Semaphore(max_in_flight)
        self._room = asyncio.Event()
        self._acks = AckTracker()
        self._chain = KeyChain()
        self._tasks: set[asyncio.Future[None]] = set()
        self._scanned: list[_Scanned[T]] = []
        self._more = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._taken = 0
        self._idle = asyncio.Event()
        self._stopping = False
        self.failed: BaseException | None = None
        self._has_failed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        """Records started and not yet written (or given up)."""
        return self._taken

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
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_rounds())
        ticket = self._acks.track(record.topic, record.partition, record.offset, ack)
        previous, mine = self._chain.enqueue(record.key)
        self._taken += 1
        self._spawn(self._scan(record, ticket, previous, mine))
        return True

    def _spawn(self, work: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _scan(
        self,
        record: SourceRecord,
        ticket: Ticket,
        previous: asyncio.Future[None] | None,
        mine: asyncio.Future[None],
    ) -> None:
        """Scan the record (after its key's previous record) and queue it for the writer."""
        queued = False
        try:
            if previous is not None:
                await asyncio.shield(previous)
            outcome = await self._scan_record(record)
            self._scanned.append(_Scanned(record, ticket, mine, outcome))
            self._more.set()
            queued = True
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
                "scanning a record failed unexpectedly; stopping without acking",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            self._fail(exc)
        finally:
            if not queued:
                self._release(record.key, mine)

    async def _write_rounds(self) -> None:
        """Each round: every outcome scanned since the last, written by a task of its own.

        The next round starts once that task is done, or after ``ROUND_WAIT_S``: a round kept
        waiting by Kafka (a partition whose leader is away) holds up its own records, not the
        lane's.
        """
        while True:
            await self._more.wait()
            self._more.clear()
            round_, self._scanned = self._scanned, []
            if round_:
                await asyncio.wait(
                    [self._spawn(self._write_round_of(round_))], timeout=ROUND_WAIT_S
                )

    async def _write_round_of(self, round_: list[_Scanned[T]]) -> None:
        """Write the round's outcomes; ack those written, and write the others one at a time."""
        try:
            written = await self._write_round([scanned.outcome for scanned in round_])
            answers = list(zip(round_, written, strict=True))
        except asyncio.CancelledError:
            self._release_all(round_)
            raise
        except Exception as exc:  # an unknown bug: stop rather than skip the records
            log.exception(
                "writing a round of outcomes failed unexpectedly; stopping without acking",
                extra={"records": len(round_)},
            )
            self._fail(exc)
            self._release_all(round_)
            return
        for scanned, done in answers:
            if done:
                self._finish(scanned)
            else:
                self._spawn(self._write_alone(scanned))

    async def _write_alone(self, scanned: _Scanned[T]) -> None:
        """An outcome whose write failed in a round: written again until Kafka confirms it."""
        try:
            await self._write(scanned.outcome)
        except asyncio.CancelledError:
            self._release(scanned.record.key, scanned.mine)
            raise
        except Exception as exc:  # an unknown bug: stop rather than skip the record
            log.exception(
                "writing an outcome failed unexpectedly; stopping without acking",
                extra={
                    "topic": scanned.record.topic,
                    "partition": scanned.record.partition,
                    "offset": scanned.record.offset,
                },
            )
            self._fail(exc)
            self._release(scanned.record.key, scanned.mine)
        else:
            self._finish(scanned)

    def _finish(self, scanned: _Scanned[T]) -> None:
        """Its outcome is written: ack it (in offset order), then let its key's next record go."""
        record = scanned.record
        if self._acks.finish(record.topic, record.partition, scanned.ticket):
            self._room.set()
        self._release(record.key, scanned.mine)

    def _release_all(self, round_: list[_Scanned[T]]) -> None:
        for scanned in round_:
            self._release(scanned.record.key, scanned.mine)

    def _release(self, key: bytes | None, mine: asyncio.Future[None]) -> None:
        self._chain.release(key, mine)
        self._slots.release()
        self._taken -= 1
        if not self._taken:
            self._idle.set()

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
        """Stop taking records; let started ones be written within ``grace_s``; cancel the rest.

        Cancelled records stay unacked, so whoever owns their partition next scans them again.
        """
        self.stop_taking()
        started = self._taken
        if started:
            self._idle.clear()
            try:
                async with asyncio.timeout(grace_s):
                    while self._taken:
                        await self._idle.wait()
            except TimeoutError:
                pass
        abandoned = self._taken
        running = [*self._tasks, *([self._writer] if self._writer is not None else [])]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5)  # pragma: no mutate (see docs/mutation.md)
        return DrainReport(finished=started - abandoned, abandoned=abandoned)
