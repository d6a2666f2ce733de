"""aiokafka's fetcher as the fetch-plan hook sees it (streams/kafka/internals.py,
``plan_fetches``), over partitions assigned through aiokafka's own subscription state: for the
fetch wait's and the idle backlog's unit tests. Build on the test's loop: aiokafka's
subscription state makes futures."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from aiokafka.consumer.subscription_state import Assignment, SubscriptionState
from faust.types import TP


class PlanningFetcher:
    """Buffered records, the wait, and a plan that asks for every fetchable partition of the
    assignment it is handed, each from its position; ``waits`` keeps each plan's wait."""

    def __init__(self) -> None:
        self._records: OrderedDict[TP, object] = OrderedDict()
        self._fetch_max_wait_ms = 1500
        self.waits: list[int] = []
        self.in_flight = False  # aiokafka plans no fetch of a broker with one in flight

    def _get_actions_per_node(self, assignment: Any) -> tuple[Any, ...]:
        self.waits.append(self._fetch_max_wait_ms)
        if self.in_flight:
            return [], {}, 0, False, []
        by_topic: dict[str, list[tuple[int, int, int]]] = {}
        for tp in assignment.tps:
            state = assignment.state_value(tp)
            if tp not in self._records and state.has_valid_position and not state.paused:
                by_topic.setdefault(tp.topic, []).append((tp.partition, state.position, 1024))
        requests = [(1, SimpleNamespace(topics=list(by_topic.items())))] if by_topic else []
        return requests, {}, 0, False, []


def assigned_at_zero(partitions: Iterable[TP]) -> tuple[SubscriptionState, Assignment]:
    """A subscription of ``partitions``, each positioned at offset 0, and its assignment."""
    subscription = SubscriptionState()
    subscription.assign_from_user(set(partitions))
    assignment = subscription.subscription.assignment
    for tp in assignment.tps:
        assignment.state_value(tp).seek(0)
    return subscription, assignment
