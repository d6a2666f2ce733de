"""The ``hashgate`` command: one entry point for the worker, the simulator and operator tools.

Each sub-command lives beside the part of hashgate it drives and is only attached here, so this
module stays a table of contents.
"""

from __future__ import annotations

import sys
import traceback

import click

from streams.errors import EX_CONFIG, EX_SOFTWARE, EX_UNAVAILABLE, ConfigurationError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hashgate")
def cli() -> None:
    """hashgate: check uploaded images against PhotoDNA, as a Kafka stream processor."""


def _attach_commands() -> None:
    from streams.downstream.moderation import moderation_command
    from streams.downstream.reporting import reporting_command
    from streams.downstream.reports_cli import reports_command
    from streams.downstream.stats import stats_command
    from streams.events.reference import doc_command as schemas_doc_command
    from streams.events.schemas import schemas_command
    from streams.rescan.cli import dlq_command, rescan_command
    from streams.reviewdesk.cli import reviewers_command
    from streams.settings_doc import settings_command
    from streams.simulator.cli import simulator_command
    from streams.uploads_cli import uploads_command
    from streams.worker import worker_command

    cli.add_command(dlq_command)
    cli.add_command(rescan_command)
    schemas_command.add_command(schemas_doc_command)
    cli.add_command(schemas_command)
    cli.add_command(settings_command)
    cli.add_command(simulator_command)
    cli.add_command(uploads_command)
    cli.add_command(worker_command)
    cli.add_command(moderation_command)
    cli.add_command(reporting_command)
    cli.add_command(reports_command)
    cli.add_command(reviewers_command)
    cli.add_command(stats_command)


def main() -> None:
    _attach_commands()
    try:
        cli.main(standalone_mode=True)
    except ConfigurationError as exc:
        click.echo(f"hashgate: configuration error: {exc}", err=True)
        sys.exit(EX_CONFIG)
    except Exception as exc:  # noqa: BLE001 -- every exit is one the runbook lists, never a bare 1
        from streams.kafka_config import is_unreachable_broker

        if is_unreachable_broker(exc):
            click.echo(
                f"hashgate: Kafka unreachable ({exc}): check HASHGATE_KAFKA__BOOTSTRAP_SERVERS "
                "and that the brokers are up",
                err=True,
            )
            sys.exit(EX_UNAVAILABLE)
        click.echo(f"hashgate: unexpected error, a bug:\n{traceback.format_exc()}", err=True)
        sys.exit(EX_SOFTWARE)
