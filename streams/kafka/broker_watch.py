"""Whether the Kafka broker answers, for ``/readyz``.

faust's clients retry a lost broker quietly and reconnect by themselves, so a worker whose
broker is gone still looks ready. This asks the cluster every second, through the process's own
producer client (same address, same TLS and SASL), for metadata of no topic: the broker list
alone. A refusal or silence from every known broker turns the worker not ready until an answer
comes back.

Not aiokafka's ``fetch_all_metadata``: its answer lists every partition of the cluster, which
the event loop decodes in Python once a second. Against the benchmark's broker that was the
larger part of the worker's Kafka protocol decoding (docs/benchmarks.md), and on a production
cluster of thousands of partitions it would stall every scan for milliseconds each second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger(__name__)

#: Seconds between probes; also what a probe may take before the broker counts as gone.
PROBE_INTERVAL_S = 1.0


class BrokerWatch:
    """``reachable`` is the last probe's answer; ``probe`` runs as a faust timer."""

    def __init__(self, client: Callable[[], Awaitable[AIOKafkaClient]]) -> None:
        self._client = client
        self.reachable = True

    async def probe(self) -> None:
        try:
            client = await self._client()
            async with asyncio.timeout(PROBE_INTERVAL_S * 2):
                await any_broker_answers(client)
        except (KafkaError, OSError, TimeoutError) as exc:
            if self.reachable:
                log.warning("Kafka broker unreachable, not ready until it answers: %r", exc)
            self.reachable = False
            return
        if not self.reachable:
            log.warning("Kafka broker answering again")
        self.reachable = True


async def any_broker_answers(client: AIOKafkaClient) -> None:
    """Returns once one of the brokers ``client`` knows answered a request for no topic's
    metadata, asking them in turn in random order as aiokafka's own metadata refresh does;
    raises the last one's error if none answered."""
    nodes = [broker.nodeId for broker in client.cluster.brokers()]
    if not nodes:
        raise KafkaError("no broker known yet")
    random.shuffle(nodes)
    no_topic = MetadataRequest([], allow_auto_topic_creation=False)
    for node in nodes[:-1]:
        with contextlib.suppress(KafkaError):  # the next broker may answer
            await client.send(node, no_topic)
            return
    await client.send(nodes[-1], no_topic)
