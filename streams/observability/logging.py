"""Structured (JSON lines) logging with secrets scrubbed as a last line of defence.

Code never logs a secret on purpose; the filter exists for what third-party libraries might
echo (headers in debug logs, exception reprs). Known secret values are registered at start.
Errors aiokafka retries by itself are written as warnings (streams/kafka/log_levels.py), so a
clean start logs no ERROR that isn't one.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from streams.kafka.log_levels import RetriedKafkaErrorsAsWarnings

_REDACTED = "[redacted]"
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class SecretScrubber(logging.Filter):
    """Replaces registered secret values in every record's message and arguments."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self._scrub(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:  # pragma: no mutate
                record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={...}`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(
            {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and k[0] != "_"}
        )
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


def logging_config(level: str, secrets: list[SecretStr | None]) -> dict[str, Any]:
    """A dictConfig for faust's Worker (``logging_config=``) and for plain scripts."""
    values = [s.get_secret_value() for s in secrets if s is not None]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "retried": {"()": RetriedKafkaErrorsAsWarnings},
            "scrub": {"()": SecretScrubber, "secrets": values},
        },
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["retried", "scrub"],  # the scrubber drops the arguments
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            "aiokafka": {"level": "WARNING"},
        },
    }


def configure_logging(level: str, secrets: list[SecretStr | None]) -> None:
    logging.config.dictConfig(logging_config(level, secrets))
