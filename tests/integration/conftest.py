"""A real Kafka broker for the whole integration session (see hashgate_tools/localkafka.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hashgate_tools.localkafka import LocalBroker, local_broker

# Shared checks keep pytest's detailed assertion messages.
pytest.register_assert_rewrite("tests.integration.promise_support")


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalBroker]:
    logging.getLogger("hashgate.localkafka").setLevel(logging.INFO)
    with local_broker() as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    return kafka_broker.bootstrap
