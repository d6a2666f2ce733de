"""Generated blocks of README.md and docs/*.md: the text between `<!-- NAME:start -->` and
`<!-- NAME:end -->`.

The configuration table and the events reference are rendered from the code; a test compares
each block with its renderer, so the README cannot drift from what hashgate really reads and
writes. This module is the one place that finds, reads and replaces such a block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click


def _normal(content: str) -> str:
    return content.strip("\n") + "\n"


@dataclass(frozen=True)
class ReadmeBlock:
    name: str
    regenerate: str  # the command that rewrites it, for error messages

    @property
    def start(self) -> str:
        return f"<!-- {self.name}:start -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}:end -->"

    def _bounds(self, text: str) -> tuple[int, int]:
        start, end = text.find(self.start), text.find(self.end)
        if start < 0 or end < start:
            raise click.ClickException(f"markers {self.start} ... {self.end} not found")
        return start + len(self.start), end

    def read(self, text: str) -> str:
        """What ``text`` holds between the markers."""
        start, end = self._bounds(text)
        return _normal(text[start:end])

    def replace(self, text: str, content: str) -> str:
        """``text`` with only the block between the markers replaced by ``content``."""
        start, end = self._bounds(text)
        return text[:start] + "\n" + _normal(content) + text[end:]

    def is_current(self, text: str, content: str) -> bool:
        return self.read(text) == _normal(content)


def doc_command(block: ReadmeBlock, render: Callable[[], str], summary: str) -> click.Command:
    """A ``doc`` command: print the block, or ``--write`` / ``--check`` it in a file."""

    @click.command("doc", help=summary)
    @click.option(
        "--check",
        "check_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"Exit 1 if this file's block between the {block.name} markers is out of date.",
    )
    @click.option(
        "--write",
        "write_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"Replace this file's block between the {block.name} markers.",
    )
    def command(check_path: Path | None, write_path: Path | None) -> None:
        if check_path and write_path:
            raise click.UsageError("use --check or --write, not both")
        content = render()
        if write_path:
            write_path.write_text(block.replace(write_path.read_text("utf-8"), content), "utf-8")
        elif check_path:
            if not block.is_current(check_path.read_text("utf-8"), content):
                click.echo(
                    f"{check_path}: the {block.name} block is out of date; run: {block.regenerate}",
                    err=True,
                )
                raise SystemExit(1)
        else:
            click.echo(content, nl=False)

    return command
