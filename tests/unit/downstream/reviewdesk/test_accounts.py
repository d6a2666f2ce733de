"""``hashgate reviewers`` and the accounts file: argon2id hashes only, owner-readable, roles."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import cli
from streams.downstream.reviewdesk.accounts import Account, AccountFile, password_matches
from streams.errors import ConfigurationError
from streams.settings import ReviewRole

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def accounts_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "etc" / "reviewers.json"
    monkeypatch.setenv("HASHGATE_REVIEW__ACCOUNTS_FILE", str(path))
    return path


def test_add_stores_only_an_argon2id_hash_readable_by_the_owner(
    runner: CliRunner, accounts_path: Path
) -> None:
    result = runner.invoke(cli, ["reviewers", "add", "alice", "--password-stdin"], PASSWORD)
    assert result.exit_code == 0, result.output

    text = accounts_path.read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert stat.S_IMODE(accounts_path.stat().st_mode) == 0o600
    alice = AccountFile(accounts_path).find("alice")
    assert alice is not None and alice.role is ReviewRole.REVIEWER
    assert password_matches(alice, PASSWORD)
    assert not password_matches(alice, PASSWORD + "!")


def test_roles_proxy_only_accounts_replace_and_remove(
    runner: CliRunner, accounts_path: Path
) -> None:
    add = ["reviewers", "add", "audrey", "--role", "auditor", "--proxy-only"]
    assert runner.invoke(cli, add).exit_code == 0
    again = runner.invoke(cli, add)
    assert again.exit_code == 1 and "--replace" in again.output
    assert runner.invoke(cli, [*add[:-1], "--password-stdin", "--replace"], PASSWORD).exit_code == 0

    listing = runner.invoke(cli, ["reviewers", "list"]).output
    assert listing.splitlines() == ["audrey\tauditor\tpassword"]
    assert runner.invoke(cli, ["reviewers", "remove", "audrey"]).exit_code == 0
    assert AccountFile(accounts_path).load() == {}
    assert runner.invoke(cli, ["reviewers", "remove", "audrey"]).exit_code == 1


def test_a_proxy_only_account_matches_no_password(runner: CliRunner, accounts_path: Path) -> None:
    runner.invoke(cli, ["reviewers", "add", "sam", "--proxy-only"])
    assert not password_matches(AccountFile(accounts_path).find("sam"), "")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["reviewers", "add", "bob", "--password-stdin"], "at least 12 characters"),
        (["reviewers", "add", "bob smith", "--proxy-only"], "no spaces"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    runner: CliRunner, accounts_path: Path, args: list[str], problem: str
) -> None:
    result = runner.invoke(cli, args, "short")
    assert result.exit_code == 1 and problem in result.output
    assert not accounts_path.exists()


def test_without_an_accounts_file_it_says_which_variable_to_set(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HASHGATE_REVIEW__ACCOUNTS_FILE", raising=False)
    result = runner.invoke(cli, ["reviewers", "list"])
    assert result.exit_code == 2 and "HASHGATE_REVIEW__ACCOUNTS_FILE" in result.output


def test_a_broken_accounts_file_is_named_at_start_and_survived_later(tmp_path: Path) -> None:
    path = tmp_path / "reviewers.json"
    path.write_text('{"reviewers": [{"name": "alice"}]}')
    with pytest.raises(ConfigurationError, match="not a reviewer accounts file"):
        AccountFile(path).load()

    accounts = AccountFile(path)
    accounts.save({"sam": Account(name="sam", role=ReviewRole.REVIEWER)})
    assert list(accounts.load()) == ["sam"]
    path.write_text("{half an edit")
    os.utime(path, (1, 1))  # a different mtime, as an editor's save would give
    assert list(accounts.load()) == ["sam"]  # the last good accounts, and an error logged
