"""Stops fetching a topic as a whole when its agent falls behind, so other agents keep receiving.

faust hands every fetched record to its agent's queue from one loop, and when a queue is full
that loop waits: a rescan backlog then holds back every live upload behind it. faust guards
against this per partition: a record put while its queue is above 80% stops fetching from *that*
partition. The other partitions of the same topic keep delivering until each of them has put one
record above the mark, each with up to ``broker_max_poll_records`` more behind it in the batch,
so a lane with four partitions could overfill its queue and stall the loop for minutes (seen in
the rescan-priority integration test: live uploads waited over 120 s behind a 10,000-record
rescan). This consumer marks the topic's every assigned partition at once, and clears them
together, which bounds the overshoot to one batch: below the queue's size for any partition count.
Records already fetched still reach the agent (faust keeps a buffered partition's records), so
nothing is dropped; only fetching pauses.
"""

from __future__ import annotations

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from faust.types import TP


class TopicWideBufferingConsumer(AIOKafkaFaustConsumer):
    def on_buffer_full(self, tp: TP) -> None:
        for assigned in self._same_topic(tp):
            super().on_buffer_full(assigned)

    def on_buffer_drop(self, tp: TP) -> None:
        for assigned in self._same_topic(tp):
            super().on_buffer_drop(assigned)

    def _same_topic(self, tp: TP) -> set[TP]:
        return {tp} | {other for other in self.assignment() if other.topic == tp.topic}
