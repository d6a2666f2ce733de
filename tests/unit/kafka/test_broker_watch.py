"""The broker watch behind /readyz: any known broker's answer counts, silence from all does not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from aiokafka.protocol.metadata import MetadataRequest, MetadataRequest_v5

from streams.kafka.broker_watch import BrokerWatch, any_broker_answers

pytestmark = pytest.mark.unit


class Cluster:
    """An aiokafka client as the watch sees it: known brokers, and ``send`` to one of them."""

    def __init__(self, answering: set[int], known: tuple[int, ...] = (1, 2, 3)) -> None:
        self.answering = answering
        self.cluster = SimpleNamespace(brokers=lambda: [SimpleNamespace(nodeId=n) for n in known])
        self.asked: list[int] = []
        self.requests: list[MetadataRequest] = []

    async def send(self, node: int, request: MetadataRequest) -> str:
        self.asked.append(node)
        self.requests.append(request)
        if node not in self.answering:
            raise KafkaConnectionError(f"broker {node} is gone")
        return "metadata"

    def watch(self) -> BrokerWatch:
        async def client() -> AIOKafkaClient:
            return cast(AIOKafkaClient, self)

        return BrokerWatch(client)


async def test_one_answering_broker_is_enough_whichever_is_asked_first() -> None:
    for _ in range(10):  # the order is random; one answering broker always counts
        cluster = Cluster(answering={2})

        await any_broker_answers(cast(Any, cluster))

        assert cluster.asked[-1] == 2
        assert len(cluster.asked) == len(set(cluster.asked)) <= 3


async def test_the_request_asks_for_no_topic_so_the_answer_does_not_grow_with_the_cluster() -> None:
    cluster = Cluster(answering={1, 2, 3})

    await any_broker_answers(cast(Any, cluster))

    [request] = cluster.requests
    built = request.build(MetadataRequest_v5)
    assert built.topics == []  # an empty list, not None (which asks for every topic)
    assert built.allow_auto_topic_creation is False


async def test_silence_from_every_broker_raises_the_last_error() -> None:
    cluster = Cluster(answering=set())

    with pytest.raises(KafkaConnectionError):
        await any_broker_answers(cast(Any, cluster))
    assert sorted(cluster.asked) == [1, 2, 3]


async def test_no_known_broker_is_no_answer() -> None:
    cluster = Cluster(answering={1}, known=())

    watch = cluster.watch()
    await watch.probe()

    assert watch.reachable is False and cluster.asked == []


async def test_the_watch_turns_unreachable_and_back_with_one_warning_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = Cluster(answering={1, 2, 3})
    watch = cluster.watch()

    await watch.probe()
    assert watch.reachable is True

    cluster.answering = set()
    await watch.probe()
    await watch.probe()
    assert watch.reachable is False

    cluster.answering = {3}
    await watch.probe()
    assert watch.reachable is True
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Kafka broker unreachable" in m for m in messages) == 1
    assert messages[-1] == "Kafka broker answering again"


async def test_a_broker_not_ready_counts_as_silent() -> None:
    cluster = Cluster(answering={1}, known=(1, 2))

    async def not_ready(node: int, request: MetadataRequest) -> str:
        raise NodeNotReadyError(f"broker {node} not ready")

    cluster.send = not_ready  # type: ignore[method-assign]
    watch = cluster.watch()
    await watch.probe()

    assert watch.reachable is False
