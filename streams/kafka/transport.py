"""hashgate's faust transport driver: faust's aiokafka driver with the topic-wide buffering
consumer (streams/kafka/buffering.py).

faust picks a transport by the scheme of its broker URL, from its ``faust.transports`` entry
points; pyproject.toml registers this one for ``hashgate-kafka://``, and
``streams.kafka.config.faust_broker_urls`` writes that scheme. So the consumer is customised
through faust's own extension point, never by assigning a class attribute on a live app.
"""

from __future__ import annotations

from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport

from streams.kafka.buffering import TopicWideBufferingConsumer

#: The broker URL scheme this driver is registered under (pyproject.toml, faust.transports).
SCHEME = "hashgate-kafka"


class Transport(AIOKafkaTransport):
    Consumer = TopicWideBufferingConsumer
