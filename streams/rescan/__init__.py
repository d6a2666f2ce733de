"""Rescans and DLQ replay: the operator commands, and what the worker needs to support them.

- ``start``: select past uploads and publish rescan requests (``hashgate rescan start``).
- ``status``: count a rescan's outcomes against its total (``hashgate rescan status``).
- ``dlq``: re-inject dead-lettered records into their lane (``hashgate dlq replay``).
- ``records``: the manifest and outcome records on the status and progress topics.

The worker's ``--only-changed`` filter is streams/scan/changes.py, over its latest-verdict
table (streams/kafka/latest_table.py). Modules are imported directly; this package re-exports
nothing, so the worker can import the parts it needs without pulling in the command-line tools.
"""
