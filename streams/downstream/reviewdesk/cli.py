"""``hashgate reviewers``: the review desk's accounts, kept in HASHGATE_REVIEW__ACCOUNTS_FILE."""

from __future__ import annotations

import sys

import click

from streams.downstream.reviewdesk.accounts import (
    MIN_PASSWORD_LENGTH,
    Account,
    AccountFile,
    hash_password,
)
from streams.settings import ReviewRole, load_settings


def _accounts() -> AccountFile:
    path = load_settings().review.accounts_file
    if path is None:
        raise click.UsageError(
            "set HASHGATE_REVIEW__ACCOUNTS_FILE to where the reviewer accounts are kept"
        )
    return AccountFile(path)


@click.group("reviewers")
def reviewers_command() -> None:
    """Who may use the review desk: add, remove and list reviewers and auditors."""


@reviewers_command.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([r.value for r in ReviewRole]),
    default=ReviewRole.REVIEWER.value,
    show_default=True,
    help="reviewer: decides; auditor: reads only.",
)
@click.option(
    "--proxy-only", is_flag=True, help="No password: the user logs in through the trusted proxy."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--replace", is_flag=True, help="Change the role or password of an existing one.")
def add(name: str, role: str, proxy_only: bool, password_stdin: bool, replace: bool) -> None:
    """Add reviewer NAME; asks for a password (stored only as an argon2id hash)."""
    accounts = _accounts()
    reviewers = accounts.load()
    if name in reviewers and not replace:
        raise click.ClickException(f"{name} exists; --replace changes the role or password")
    password_hash = None
    if not proxy_only:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = click.prompt(
                f"Password for {name} (at least {MIN_PASSWORD_LENGTH} characters)",
                hide_input=True,
                confirmation_prompt=True,
            )
        try:
            password_hash = hash_password(password)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        reviewer = Account(name=name, role=ReviewRole(role), password_hash=password_hash)
    except ValueError:
        raise click.ClickException(
            "a name is 1-256 letters, digits and . _ @ - (no spaces)"
        ) from None
    reviewers[name] = reviewer
    accounts.save(reviewers)
    click.echo(f"{name} is a{'n' if role == 'auditor' else ''} {role} ({accounts.path})")


@reviewers_command.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove NAME; their sessions end with their next request."""
    accounts = _accounts()
    reviewers = accounts.load()
    if reviewers.pop(name, None) is None:
        raise click.ClickException(f"no reviewer {name}")
    accounts.save(reviewers)
    click.echo(f"removed {name}")


@reviewers_command.command("list")
def list_reviewers() -> None:
    """Names, roles, and how each logs in."""
    for reviewer in _accounts().load().values():
        how = "password" if reviewer.password_hash else "proxy only"
        click.echo(f"{reviewer.name}\t{reviewer.role.value}\t{how}")
