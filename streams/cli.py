"""The ``hashgate`` command: one entry point for the worker, the simulator and operator tools.

Each sub-command lives beside the part of hashgate it drives and is only named here, so this
module stays a table of contents; a command's code is imported only when that command runs.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable

import click

from streams.errors import EX_CONFIG, EX_SOFTWARE, EX_UNAVAILABLE, ConfigurationError


def _schemas_command() -> click.Command:
    from streams.events.reference import doc_command
    from streams.events.schemas import schemas_command
    from streams.kafka.topics import topics_script_command

    schemas_command.add_command(doc_command)
    schemas_command.add_command(topics_script_command)
    return schemas_command


def _simulator_command() -> click.Command:
    """The simulator is a tool, not the runtime: it needs the ``simulator`` extra (pdqhash)."""
    try:
        from hashgate_tools.simulator.cli import simulator_command
    except ModuleNotFoundError as exc:
        missing = exc.name

        @click.command("simulator", context_settings={"ignore_unknown_options": True})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def simulator_unavailable(args: tuple[str, ...]) -> None:
            """The PhotoDNA simulator (needs: pip install 'hashgate[simulator]')."""
            raise ConfigurationError(
                f"the simulator needs {missing!r}, which this install lacks:"
                " pip install 'hashgate[simulator]'"
            )

        return simulator_unavailable
    return simulator_command


def _command(module: str, name: str) -> Callable[[], click.Command]:
    def load() -> click.Command:
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command

    return load


#: Each sub-command, imported only when it runs: ``hashgate moderation`` and ``hashgate stats``
#: load neither the PhotoDNA client nor Pillow, and no command loads the others' code.
COMMANDS: dict[str, Callable[[], click.Command]] = {
    "banks": _command("streams.savers.cli", "banks_command"),
    "dlq": _command("streams.rescan.cli", "dlq_command"),
    "moderation": _command("streams.downstream.moderation", "moderation_command"),
    "reporting": _command("streams.downstream.reporting", "reporting_command"),
    "reports": _command("streams.downstream.reports_cli", "reports_command"),
    "rescan": _command("streams.rescan.cli", "rescan_command"),
    "reviewers": _command("streams.downstream.reviewdesk.cli", "reviewers_command"),
    "schemas": _schemas_command,
    "settings": _command("streams.settings_doc", "settings_command"),
    "simulator": _simulator_command,
    "stats": _command("streams.downstream.stats", "stats_command"),
    "uploads": _command("streams.uploads_cli", "uploads_command"),
    "worker": _command("streams.worker", "worker_command"),
}


class LazyGroup(click.Group):
    """click's documented pattern for sub-commands imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load = COMMANDS.get(cmd_name)
        return load() if load is not None else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hashgate")
def cli() -> None:
    """hashgate: check uploaded images against PhotoDNA, as a Kafka stream processor."""


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except ConfigurationError as exc:
        click.echo(f"hashgate: configuration error: {exc}", err=True)
        sys.exit(EX_CONFIG)
    except Exception as exc:  # noqa: BLE001 -- every exit is one the runbook lists, never a bare 1
        from streams.kafka.config import is_unreachable_broker

        if is_unreachable_broker(exc):
            click.echo(
                f"hashgate: Kafka unreachable ({exc}): check HASHGATE_KAFKA__BOOTSTRAP_SERVERS "
                "and that the brokers are up",
                err=True,
            )
            sys.exit(EX_UNAVAILABLE)
        click.echo(f"hashgate: unexpected error, a bug:\n{traceback.format_exc()}", err=True)
        sys.exit(EX_SOFTWARE)
