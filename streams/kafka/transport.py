"""hashgate's faust transport driver: faust's aiokafka driver with the topic-wide buffering
consumer (streams/kafka/buffering.py) and a short fetch wait.

faust picks a transport by the scheme of its broker URL, from its ``faust.transports`` entry
points; pyproject.toml registers this one for ``hashgate-kafka://``, and
``streams.kafka.config.faust_broker_urls`` writes that scheme. So the consumer is customised
through faust's own extension point, never by assigning a class attribute on a live app.

Why the fetch wait: aiokafka keeps one fetch in flight per broker, and a fetch leaves out the
partitions whose records are still buffered. Once the live lane drained its partitions, their
next fetch waits behind one for the idle topics (rescans, retries), which the broker holds
for ``fetch_max_wait_ms``; faust's driver hard-codes 1500 ms, so a live upload could wait up
to 1.5 s for its fetch (the tail of benchmark (e)). A short wait costs an empty fetch round
trip every ``FETCH_MAX_WAIT_MS`` per broker while a worker is idle.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport

from streams.kafka.buffering import TopicWideBufferingConsumer
from streams.kafka.internals import set_fetch_max_wait

#: The broker URL scheme this driver is registered under (pyproject.toml, faust.transports).
SCHEME = "hashgate-kafka"
#: How long the broker may hold a fetch that finds no records (faust's driver: 1500 ms).
FETCH_MAX_WAIT_MS = 10


class ShortFetchWaitThread(AIOKafkaConsumerThread):
    """faust's consumer thread, whose aiokafka consumer waits ``FETCH_MAX_WAIT_MS`` at most."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        set_fetch_max_wait(consumer, FETCH_MAX_WAIT_MS)
        return consumer


class Consumer(TopicWideBufferingConsumer):
    def _new_consumer_thread(self) -> ShortFetchWaitThread:
        return ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)


class Transport(AIOKafkaTransport):
    Consumer = Consumer
