"""docs/configuration.md's table is generated from the settings model and may not drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from streams.cli import cli
from streams.settings import Settings
from streams.settings_doc import (
    BLOCK,
    SECRET_DEFAULT,
    settings_docs,
    settings_table,
)

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SECRET_VARS = {
    "HASHGATE_KAFKA__SASL_PASSWORD",
    "HASHGATE_PHOTODNA__SUBSCRIPTION_KEY",
    "HASHGATE_PHOTODNA__NCMEC_PASSWORD",
    "HASHGATE_REVIEW__SESSION_SECRET",
}


def _expected_env_vars() -> set[str]:
    """Env var names derived independently of settings_doc, straight from the model."""
    names: set[str] = set()
    for group, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(f"HASHGATE_{group}__{name}".upper() for name in annotation.model_fields)
        else:
            names.add(f"HASHGATE_{group}".upper())
    return names


def test_readme_table_is_the_generated_one() -> None:
    assert BLOCK.read(README.read_text("utf-8")) == settings_table(), (
        "docs/configuration.md is out of date: run "
        "`hashgate settings doc --write docs/configuration.md`"
    )


def test_every_setting_is_documented_once() -> None:
    documented = [doc.env_var for doc in settings_docs()]
    assert len(documented) == len(set(documented))
    assert set(documented) == _expected_env_vars()
    table = settings_table()
    for name in documented:
        assert f"| `{name}` |" in table


def test_every_setting_has_a_description() -> None:
    assert [doc.env_var for doc in settings_docs() if not doc.description] == []


def test_documented_names_are_the_names_settings_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHGATE_SCAN__MAX_IN_FLIGHT", "7")
    monkeypatch.setenv("HASHGATE_LOG_LEVEL", "DEBUG")
    documented = {doc.env_var for doc in settings_docs()}
    assert {"HASHGATE_SCAN__MAX_IN_FLIGHT", "HASHGATE_LOG_LEVEL"} <= documented
    settings = Settings()
    assert settings.scan.max_in_flight == 7
    assert settings.log_level == "DEBUG"


def test_secrets_show_no_value() -> None:
    by_name = {doc.env_var: doc for doc in settings_docs()}
    for name in SECRET_VARS:
        assert by_name[name].default == SECRET_DEFAULT
    secret_defaults = {doc.env_var for doc in settings_docs() if doc.default == SECRET_DEFAULT}
    assert secret_defaults == SECRET_VARS


def test_types_defaults_and_bounds_are_rendered() -> None:
    by_name = {doc.env_var: doc for doc in settings_docs()}
    in_flight = by_name["HASHGATE_SCAN__MAX_IN_FLIGHT"]
    assert (in_flight.type, in_flight.default) == ("integer, >= 1", "`64`")
    protocol = by_name["HASHGATE_KAFKA__SECURITY_PROTOCOL"]
    assert protocol.type == "one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    assert protocol.default == "`PLAINTEXT`"
    assert by_name["HASHGATE_KAFKA__SSL_CAFILE"].default == "(unset)"
    assert by_name["HASHGATE_PHOTODNA__ENHANCE"].default == "`false`"
    assert by_name["HASHGATE_MEDIA__ALLOW_HOSTS"].default == "`[]`"


def test_pipes_in_cells_do_not_break_the_table() -> None:
    for row in settings_table().splitlines():
        unescaped = row.replace("\\|", "")
        assert unescaped.count("|") == 5, row


def _readme_with(table: str) -> str:
    return f"# x\n\nbefore\n\n{BLOCK.start}\n{table}{BLOCK.end}\n\nafter\n"


def test_the_block_alone_is_replaced() -> None:
    updated = BLOCK.replace(_readme_with("| stale |\n"), settings_table())
    assert updated == _readme_with(settings_table())
    assert BLOCK.read(updated) == settings_table()


def test_cli_prints_the_table() -> None:
    result = CliRunner().invoke(cli, ["settings", "doc"])
    assert result.exit_code == 0, result.output
    assert result.output == settings_table()


def test_cli_check_fails_on_drift_and_write_fixes_it(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(_readme_with("| stale |\n"), "utf-8")
    runner = CliRunner()

    stale = runner.invoke(cli, ["settings", "doc", "--check", str(readme)])
    assert stale.exit_code == 1
    assert "out of date" in stale.output

    written = runner.invoke(cli, ["settings", "doc", "--write", str(readme)])
    assert written.exit_code == 0, written.output
    assert readme.read_text("utf-8") == _readme_with(settings_table())

    fresh = runner.invoke(cli, ["settings", "doc", "--check", str(readme)])
    assert fresh.exit_code == 0, fresh.output


def test_cli_check_refuses_a_file_without_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers here\n", "utf-8")
    result = CliRunner().invoke(cli, ["settings", "doc", "--check", str(readme)])
    assert result.exit_code != 0
    assert BLOCK.start in result.output
