"""The log scrubber: a registered secret never reaches a log line, in a message, its arguments
or a traceback; and the logging config puts the scrubber in front of every line."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from aiokafka.errors import NotLeaderForPartitionError
from pydantic import SecretStr

from streams.observability.logging import JsonFormatter, SecretScrubber, logging_config
from streams.photodna.api import logger as api_logger

pytestmark = pytest.mark.unit

KEY = "k3y-SUPER-secret-0123456789abcdef"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("httpx", logging.WARNING, __file__, 1, msg, args, exc_info)


def line(scrubber: SecretScrubber, entry: logging.LogRecord) -> str:
    assert scrubber.filter(entry) is True  # scrubbed, never dropped
    return JsonFormatter().format(entry)


def test_a_secret_in_the_message_or_its_arguments_is_redacted() -> None:
    scrubber = SecretScrubber([KEY, "other-secret"])

    text = line(scrubber, record("header %s=%r and other-secret", "Ocp-Apim-Subscription-Key", KEY))

    assert KEY not in text and "other-secret" not in text
    assert json.loads(text)["msg"] == "header Ocp-Apim-Subscription-Key='[redacted]' and [redacted]"


def test_a_secret_in_a_traceback_is_redacted() -> None:
    try:
        raise ValueError(f"refused key {KEY}")
    except ValueError as exc:
        entry = record("call failed", exc=exc)

    text = line(SecretScrubber([KEY]), entry)

    assert KEY not in text
    assert "refused key [redacted]" in json.loads(text)["exc"]


@pytest.mark.parametrize(("secret", "scrubbed"), [("abc", False), ("abcd", True)])
def test_secrets_shorter_than_four_characters_are_not_scrubbed(secret: str, scrubbed: bool) -> None:
    # Scrubbing "ab" would shred every log line; such a value is no secret worth the name.
    text = line(SecretScrubber([secret]), record(f"value {secret}!"))

    assert (secret not in json.loads(text)["msg"]) is scrubbed


def test_without_secrets_records_pass_untouched() -> None:
    entry = record("%s of %d", "three", 4)

    line(SecretScrubber([]), entry)

    assert entry.args == ("three", 4) and entry.msg == "%s of %d"


@pytest.fixture
def configured() -> Iterator[io.StringIO]:
    """The real dictConfig, writing to a buffer; the root logger is put back afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    config = logging_config("INFO", [SecretStr(KEY), None])
    output = io.StringIO()
    config["handlers"]["stderr"]["stream"] = output
    logging.config.dictConfig(config)
    yield output
    for handler in root.handlers:
        root.removeHandler(handler)
    root.setLevel(saved[0])
    for handler in saved[1]:
        root.addHandler(handler)


def test_the_logging_config_scrubs_every_line_it_writes(configured: io.StringIO) -> None:
    logging.getLogger("httpcore").warning("sent %s", KEY)
    api_logger.info("key=%s", KEY)  # created at import, before the config: still enabled

    lines = [json.loads(text) for text in configured.getvalue().splitlines()]
    assert [entry["msg"] for entry in lines] == ["sent [redacted]", "key=[redacted]"]
    assert [entry["logger"] for entry in lines] == ["httpcore", "streams.photodna.api"]


def test_the_logging_config_writes_an_error_aiokafka_retries_as_a_warning(
    configured: io.StringIO,
) -> None:
    # Lowered before the scrubber, which drops the record's arguments (the error among them).
    logging.getLogger("aiokafka.consumer.fetcher").error(
        "Failed fetch offsets from %s: %s", 1, NotLeaderForPartitionError()
    )
    logging.getLogger("aiokafka.consumer.fetcher").error("Failed fetch offsets from %s: %s", 1, KEY)

    lines = [json.loads(text) for text in configured.getvalue().splitlines()]
    assert [entry["level"] for entry in lines] == ["warning", "error"]
    assert "NotLeaderForPartitionError" in lines[0]["msg"] and KEY not in lines[1]["msg"]


def test_a_json_line_has_time_level_logger_message_and_the_extra_fields() -> None:
    entry = record("scanned %s", "img-1")
    entry.created = 1_764_590_400.5  # 2025-12-01T12:00:00.500Z
    entry.content_id = "img-1"
    entry.Region = "eu"  # a key sorting before "_" is kept too
    entry._private = "kept out"

    fields = json.loads(JsonFormatter().format(entry))

    assert fields == {
        "ts": "2025-12-01T12:00:00.500+00:00",
        "level": "warning",
        "logger": "httpx",
        "msg": "scanned img-1",
        "content_id": "img-1",
        "Region": "eu",
    }


def test_a_scrubbed_traceback_is_still_written() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        entry = record("failed", exc=exc)
    SecretScrubber(["unrelated-secret"]).filter(entry)

    assert entry.exc_info is None
    assert "ValueError: boom" in json.loads(JsonFormatter().format(entry))["exc"]
