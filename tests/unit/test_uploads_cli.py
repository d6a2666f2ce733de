"""``hashgate uploads publish``: the event it builds, and a bad URL refused before Kafka."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from streams.events import UploadEvent
from streams.uploads_cli import build_upload, uploads_command

pytestmark = pytest.mark.unit


def test_the_upload_carries_the_given_content_id_tenant_and_account() -> None:
    event = build_upload(
        "https://cdn.example.com/a.png", tenant="acme", content_id="img-42", account="u-7"
    )
    assert UploadEvent.decode(event.encode()) == event  # a valid event, as the worker reads it
    assert (event.content_id, event.tenant, event.key) == ("img-42", "acme", b"img-42")
    assert event.uploader is not None and event.uploader.account_id == "u-7"
    assert str(event.media_url) == "https://cdn.example.com/a.png"


def test_without_a_content_id_each_upload_gets_its_own() -> None:
    first, second = (
        build_upload("https://cdn.example.com/a.png", tenant="demo", content_id=None, account=None)
        for _ in range(2)
    )
    assert first.content_id != second.content_id and first.event_id != second.event_id
    assert first.uploader is None


def test_a_url_that_is_not_one_exits_2_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens there: had it tried Kafka, it would not end with a usage error (2).
    monkeypatch.setenv("HASHGATE_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:9")
    result = CliRunner().invoke(uploads_command, ["publish", "not-a-url", "--content-id", "c-1"])
    assert result.exit_code == 2, result.output
    assert "media_url" in result.output
