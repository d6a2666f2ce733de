"""Whether the Kafka broker answers, for ``/readyz``.

faust's clients retry a lost broker quietly and reconnect by themselves, so a worker whose
broker is gone still looks ready. This asks the cluster for its metadata every second through
the process's own producer client (same address, same TLS and SASL): a refusal or silence turns
the worker not ready until an answer comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

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
                await client.fetch_all_metadata()
        except (KafkaError, OSError, TimeoutError) as exc:
            if self.reachable:
                log.warning("Kafka broker unreachable, not ready until it answers: %r", exc)
            self.reachable = False
            return
        if not self.reachable:
            log.warning("Kafka broker answering again")
        self.reachable = True
