"""A real Kafka broker for the whole integration session (see hashgate_tools/localkafka.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hashgate_tools.localkafka import local_kafka


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    logging.getLogger("hashgate.localkafka").setLevel(logging.INFO)
    with local_kafka() as bootstrap:
        yield bootstrap
