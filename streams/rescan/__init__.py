"""Rescans and DLQ replay: the operator commands, and what the worker needs to support them.

- ``start``: select past uploads and publish rescan requests (``hashgate rescan start``).
- ``status``: count a rescan's outcomes against its total (``hashgate rescan status``).
- ``dlq``: re-inject dead-lettered records into their lane (``hashgate dlq replay``).
- ``latest``: the worker's ``--only-changed`` filter over the compacted latest-verdict topic.
- ``records``: the manifest and outcome records on the status and progress topics.

Modules are imported directly; this package re-exports nothing, so the worker can import the
parts it needs without pulling in the command-line tools.
"""
