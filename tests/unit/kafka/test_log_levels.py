"""aiokafka's retried errors are warnings: a first start on an empty broker (changelogs without a
leader yet) must not log an ERROR, while every error aiokafka does not retry stays an error."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)

from streams.kafka.log_levels import RetriedKafkaErrorsAsWarnings

pytestmark = pytest.mark.unit

FETCHER = "aiokafka.consumer.fetcher"


def level_after(logger: str, level: int, *args: object) -> str:
    entry = logging.LogRecord(
        logger, level, __file__, 1, "Failed fetch offsets from %s: %s", args, None
    )
    assert RetriedKafkaErrorsAsWarnings().filter(entry) is True  # lowered, never dropped
    assert logging.getLevelName(entry.levelno) == entry.levelname
    return entry.levelname


@pytest.mark.parametrize("error", [NotLeaderForPartitionError(), KafkaConnectionError()])
def test_an_error_aiokafka_retries_is_a_warning(error: Exception) -> None:
    assert level_after(FETCHER, logging.ERROR, 1, error) == "WARNING"


def test_an_error_aiokafka_does_not_retry_stays_an_error() -> None:
    assert level_after(FETCHER, logging.ERROR, 1, TopicAuthorizationFailedError()) == "ERROR"


def test_an_error_without_a_kafka_error_stays_an_error() -> None:
    assert level_after(FETCHER, logging.ERROR, 1, "NotLeaderForPartitionError") == "ERROR"


def test_only_aiokafka_records_are_lowered() -> None:
    # hashgate's own code decides its levels; a retriable cause it logs at ERROR means it gave up.
    assert (
        level_after("streams.kafka.confirmed", logging.ERROR, NotLeaderForPartitionError())
        == "ERROR"
    )


def test_a_critical_record_is_left_alone() -> None:
    assert level_after(FETCHER, logging.CRITICAL, NotLeaderForPartitionError()) == "CRITICAL"
