"""aiokafka's retried errors logged as warnings, not errors.

aiokafka logs some errors it is about to retry by itself at ERROR: "Failed fetch offsets from 1:
NotLeaderForPartitionError" when a changelog created a moment ago has no leader yet, a
heartbeat refused during a rebalance, a coordinator that moved. Each is followed by a retry and
needs no one; at ERROR they would page an operator on every first start. An error aiokafka
calls retriable is kept, one level down; every other aiokafka error stays an error.
"""

from __future__ import annotations

import logging

from aiokafka.errors import KafkaError


class RetriedKafkaErrorsAsWarnings(logging.Filter):
    """Lowers an aiokafka ERROR record to WARNING when one of its arguments is a retriable
    ``KafkaError`` (the library retries those itself). Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and record.name.startswith("aiokafka")
            and _has_a_retriable_error(record.args)
        ):
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


def _has_a_retriable_error(args: object) -> bool:
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else ()
    return any(isinstance(value, KafkaError) and value.retriable for value in values)
