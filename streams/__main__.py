"""``python -m streams``: the same as the ``hashgate`` command."""

from streams.cli import main

main()
