"""Each downstream process reads and writes the topics the registry gives its role, no other."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streams.downstream.app import DownstreamApp
from streams.downstream.moderation import build_moderation
from streams.downstream.reporting import build_reporting
from streams.downstream.stats import build_stats
from streams.events.topics import MODERATION, REPORTING, STATS, topics_of
from streams.settings import Settings

pytestmark = pytest.mark.unit

POLICY = Path(__file__).resolve().parents[3] / "deploy" / "policy.example.yaml"


@pytest.mark.parametrize(
    ("build", "registry_role", "own"),
    [
        (build_moderation, MODERATION, set()),
        (build_reporting, REPORTING, set()),
        (build_stats, STATS, {"hashgate-stats-matches-by-tenant"}),
    ],
)
def test_a_downstream_process_declares_its_registry_topics(
    build: Callable[[Settings], DownstreamApp], registry_role: str, own: set[str], tmp_path: Path
) -> None:
    settings = Settings(
        moderation={"policy_file": POLICY},
        photodna={"subscription_key": "k" * 8},
        reporting={"org_name": "Org", "reporter_name": "R", "reporter_email": "r@example.org"},
        state={"dir": tmp_path},
    )
    declared = build(settings).topics
    registry = topics_of(settings.topics, registry_role)
    assert {k: v for k, v in declared.items() if k not in own} == registry
    assert set(declared) - set(registry) == own
