"""Downstream agents: what platforms run to act on match verdicts.

- ``hashgate moderation``: a YAML policy turns each match into moderation actions.
- ``hashgate reporting``: one NCMEC report per matched content, behind a human review gate
  (``hashgate reports pending|approve|reject`` or the agent's HTTP endpoint).
- ``hashgate stats``: matches per tenant per UTC day, on a page and a compacted topic.

Each runs as its own process and consumer group on the shared ``DownstreamLoop`` (base.py).
This package imports none of them: an agent process loads only its own code.
"""
