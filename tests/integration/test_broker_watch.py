"""The /readyz broker probe on the real broker: answered, and with the broker list alone.

The probe runs every second on the worker's event loop; an all-topics metadata answer would be
decoded in Python there, at a cost that grows with every partition of the cluster.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.protocol.metadata import MetadataRequest

from hashgate_tools.harness.kafka import create_topics, unique
from streams.kafka.broker_watch import BrokerWatch, any_broker_answers

pytestmark = pytest.mark.integration


async def test_the_probe_is_answered_with_brokers_and_no_topic(kafka_bootstrap: str) -> None:
    topics = [unique("watched") for _ in range(3)]
    await create_topics(kafka_bootstrap, topics, partitions=4)  # the cluster has topics
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        client = producer.client
        answers: list[Any] = []
        send = client.send

        async def recorded(node: int, request: MetadataRequest, **kw: Any) -> Any:
            answer = await send(node, request, **kw)
            answers.append(answer)
            return answer

        client.send = recorded  # type: ignore[method-assign]
        await any_broker_answers(client)

        async def started() -> Any:
            return client

        watch = BrokerWatch(started)
        await watch.probe()
        everything = await client.fetch_all_metadata()  # what the probe used to ask for
    finally:
        await producer.stop()

    assert watch.reachable is True
    first = answers[0]
    assert first.brokers, "the answer names the brokers"
    assert first.topics == [], "and no topic, however many the cluster has"
    assert everything.topics() >= set(topics)
