"""Downstream agents: what platforms run to act on match verdicts.

- ``hashgate moderation``: a YAML policy turns each match into moderation actions.
- ``hashgate reporting``: one NCMEC report per matched content, behind a human review gate
  (``hashgate reports pending|approve|reject`` or the agent's HTTP endpoint).
- ``hashgate stats``: matches per tenant per UTC day, on a page and a compacted topic.

Each runs as its own process and consumer group on the shared ``DownstreamLoop`` (base.py).
"""

from streams.downstream.app import DownstreamApp
from streams.downstream.base import DownstreamLoop, ItemRef, Sink, VerdictSink
from streams.downstream.emitter import Emitter
from streams.downstream.moderation import ModerationSink, build_moderation
from streams.downstream.policy import Policy, load_policy, parse_policy
from streams.downstream.reporting import ReportBook, build_reporting
from streams.downstream.stats import MatchCounter, build_stats
from streams.downstream.store import ModelStore, SeenStore

__all__ = [
    "DownstreamApp",
    "DownstreamLoop",
    "Emitter",
    "ItemRef",
    "MatchCounter",
    "ModelStore",
    "ModerationSink",
    "Policy",
    "ReportBook",
    "SeenStore",
    "Sink",
    "VerdictSink",
    "build_moderation",
    "build_reporting",
    "build_stats",
    "load_policy",
    "parse_policy",
]
