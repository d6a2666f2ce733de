"""docs/events.md is the generated reference, and it documents every topic and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import cli
from streams.events import EVENT_MODELS, ScanError, UploadEvent, Verdict
from streams.events.reference import (
    BLOCK,
    markdown_reference,
    type_text,
)
from streams.events.schemas import CHANNELS, json_schema
from streams.settings import TopicSettings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def section_of(reference: str, model_name: str) -> str:
    """The text of one model's section: from its heading to the next heading."""
    start = reference.index(f"#### {model_name}\n")
    end = reference.find("\n#### ", start + 1)
    return reference[start : end if end > 0 else None]


def row_of(section: str, field: str) -> list[str]:
    line = next(line for line in section.splitlines() if line.startswith(f"| `{field}` |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_readme_events_section_is_the_generated_one() -> None:
    assert BLOCK.read(README.read_text("utf-8")) == markdown_reference(), (
        "docs/events.md is out of date: run `hashgate schemas doc --write docs/events.md`"
    )


def test_every_topic_is_listed_with_its_configured_name() -> None:
    topics = TopicSettings(uploads="acme.uploads", scan_errors="acme.dlq")
    reference = markdown_reference(topics)
    for channel in CHANNELS:
        assert f"| `{channel.address(topics)}` |" in reference
    assert "`content.uploads`" not in reference


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_every_field_of_every_event_is_documented(model: type) -> None:
    section = section_of(markdown_reference(), model.__name__)
    for name in json_schema(model)["properties"]:
        assert row_of(section, name)


def test_required_optional_and_descriptions_come_from_the_model() -> None:
    section = section_of(markdown_reference(), UploadEvent.__name__)
    assert row_of(section, "event_id") == [
        "`event_id`",
        "string, 1-256 chars",
        "yes",
        "Unique per upload event; stable across re-publishes.",
    ]
    assert row_of(section, "media_type")[1:3] == ["string or null", "no (default `null`)"]
    assert row_of(section, "uploader")[1] == "[Uploader](#uploader) or null"


def test_enums_are_spelled_out_and_nested_models_linked() -> None:
    reference = markdown_reference()
    reason = row_of(section_of(reference, ScanError.__name__), "reason")[1]
    assert all(f"`{code.value}`" in reason for code in ScanError.model_fields["reason"].annotation)
    assert row_of(section_of(reference, Verdict.__name__), "matches")[1] == (
        "array of [MatchDetail](#matchdetail)"
    )
    assert "#### MatchDetail\n" in reference  # the link has a target


def test_type_text_reads_schema_nodes() -> None:
    assert type_text({"type": "string", "format": "date-time"}, {}) == "string (date-time)"
    assert type_text({"type": "integer", "minimum": 0}, {}) == "integer, >= 0"
    assert type_text({"anyOf": [{"type": "boolean"}, {"type": "null"}]}, {}) == ("boolean or null")
    assert type_text({"type": "object", "additionalProperties": {"type": "integer"}}, {}) == (
        "object of integer"
    )


def test_doc_command_checks_and_rewrites_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{BLOCK.start}\nstale\n{BLOCK.end}\n\n## After\n", "utf-8")
    runner = CliRunner()

    stale = runner.invoke(cli, ["schemas", "doc", "--check", str(readme)])
    assert stale.exit_code == 1
    assert "out of date" in stale.output

    assert runner.invoke(cli, ["schemas", "doc", "--write", str(readme)]).exit_code == 0
    text = readme.read_text("utf-8")
    assert text.startswith("# Title\n\n") and text.endswith(f"{BLOCK.end}\n\n## After\n")
    assert text == BLOCK.replace(text, markdown_reference())
    assert runner.invoke(cli, ["schemas", "doc", "--check", str(readme)]).exit_code == 0
