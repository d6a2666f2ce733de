"""schemas/ is what platforms integrate against: it must match the models exactly."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from streams.events import EVENT_MODELS
from streams.events.schemas import ASYNCAPI_FILE, CHANNELS, drift, rendered_files, schema_file
from streams.settings import TopicSettings

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def test_checked_in_schemas_match_the_models() -> None:
    assert drift(SCHEMAS) == [], "run `hashgate schemas export` and commit schemas/"


def test_drift_is_detected(tmp_path: Path) -> None:
    for name, text in rendered_files().items():
        (tmp_path / name).write_text(text)
    assert drift(tmp_path) == []
    target = tmp_path / schema_file(EVENT_MODELS[0])
    schema = json.loads(target.read_text())
    schema["required"].remove("tenant")
    target.write_text(json.dumps(schema))
    assert drift(tmp_path) == [target.name]


def test_asyncapi_lists_every_channel_with_its_topic_and_message() -> None:
    doc = yaml.safe_load((SCHEMAS / ASYNCAPI_FILE).read_text())
    assert doc["asyncapi"].startswith("3.")
    topics = TopicSettings()
    for channel in CHANNELS:
        entry = doc["channels"][channel.setting]
        assert entry["address"] == channel.address(topics)
        assert entry["x-producers"] and entry["x-consumers"]
        message = channel.event.__name__
        payload = doc["components"]["messages"][message]["payload"]["$ref"]
        assert (SCHEMAS / payload.removeprefix("./")).is_file()


def test_every_schema_requires_a_schema_version() -> None:
    for model in EVENT_MODELS:
        schema = json.loads((SCHEMAS / schema_file(model)).read_text())
        assert "schema_version" in schema["properties"]
