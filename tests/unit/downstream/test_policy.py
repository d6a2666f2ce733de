"""The moderation policy: what operators write, what it decides, and errors that name lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.downstream.policy import DEFAULT_RULE, load_policy, parse_policy
from streams.errors import ConfigurationError
from streams.events import ActionKind, Verdict
from tests.support import make_verdict

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "policy.example.yaml"

POLICY = """\
version: 1
rules:
  - name: test-hits
    match:
      sources: [Test]
    actions:
      - quarantine_content
  - name: globex
    match:
      tenants: [globex]
    actions:
      - notify_team: globex-tns
  - name: severe
    match:
      sources: [NCMEC]
      violations: [A1]
    actions:
      - suspend_uploader
      - open_review_case: escalations
default:
  actions:
    - quarantine_content
    - open_review_case: review
"""


def verdict(tenant: str = "acme", *flags: tuple[str, tuple[str, ...]]) -> Verdict:
    return make_verdict(tenant=tenant, flags=flags)


def test_the_example_policy_is_valid() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.rules and policy.default.actions


def test_first_fitting_rule_decides_by_source_tenant_and_violation() -> None:
    policy = parse_policy(POLICY)
    assert policy.decide(verdict("acme", ("Test", ("A1",))))[0] == "test-hits"
    assert policy.decide(verdict("globex", ("NCMEC", ("A1",))))[0] == "globex"
    rule, actions = policy.decide(verdict("acme", ("NCMEC", ("B2",)), ("NCMEC", ("A1",))))
    assert rule == "severe"
    assert [(a.kind, a.target) for a in actions] == [
        (ActionKind.SUSPEND_UPLOADER, None),
        (ActionKind.OPEN_REVIEW_CASE, "escalations"),
    ]


def test_source_and_violation_must_hold_for_the_same_flag() -> None:
    policy = parse_policy(POLICY)
    rule, _ = policy.decide(verdict("acme", ("NCMEC", ("B2",)), ("Other", ("A1",))))
    assert rule == DEFAULT_RULE


def test_a_match_no_rule_fits_gets_the_default_actions() -> None:
    rule, actions = parse_policy(POLICY).decide(verdict("acme"))
    assert rule == DEFAULT_RULE
    assert [a.kind for a in actions] == [ActionKind.QUARANTINE_CONTENT, ActionKind.OPEN_REVIEW_CASE]


def test_every_problem_is_reported_with_its_line() -> None:
    text = """\
version: 1
rules:
  - name: a
    actions:
      - quarantine
      - open_review_case:
  - name: b
    match: {tenants: x}
    actions: []
default:
  actions: [notify_team]
"""
    with pytest.raises(ConfigurationError) as caught:
        parse_policy(text, source="p.yaml")
    message = str(caught.value)
    assert "p.yaml line 5: rules.0.actions.0.kind" in message
    assert "p.yaml line 6: rules.0.actions.1: open_review_case needs a queue" in message
    assert "p.yaml line 8: rules.1.match.tenants" in message
    assert "p.yaml line 9: rules.1.actions" in message
    assert "p.yaml line 11: default.actions.0: notify_team needs a team" in message


def test_a_missing_default_is_refused_so_no_match_goes_without_action() -> None:
    with pytest.raises(ConfigurationError, match=r"line 1: default: Field required"):
        parse_policy("version: 1\nrules: []\n")
    with pytest.raises(ConfigurationError, match=r"line 3: default.actions: List should have"):
        parse_policy("version: 1\ndefault:\n  actions: []\n")


def test_duplicate_keys_and_bad_syntax_name_the_line() -> None:
    duplicate = "version: 1\ndefault:\n  actions: [quarantine_content]\n  actions: [x]\n"
    with pytest.raises(ConfigurationError, match=r"line 4: .*duplicate key 'actions'"):
        parse_policy(duplicate)
    with pytest.raises(ConfigurationError, match=r"line 3: not valid YAML"):
        parse_policy("version: 1\nrules: [\n")


def test_rule_names_are_unique_and_unknown_fields_refused() -> None:
    rules = "  - {name: a, actions: [quarantine_content]}\n"
    with pytest.raises(ConfigurationError, match="must be unique"):
        parse_policy(
            f"version: 1\nrules:\n{rules}{rules}default: {{actions: [suspend_uploader]}}\n"
        )
    with pytest.raises(ConfigurationError, match=r"line 3: rules.0.matches: Extra inputs"):
        parse_policy(
            "version: 1\nrules:\n  - {name: a, matches: {}, actions: [quarantine_content]}\n"
            "default: {actions: [quarantine_content]}\n"
        )


def test_actions_without_an_argument_refuse_one() -> None:
    with pytest.raises(ConfigurationError, match="quarantine_content takes no argument"):
        parse_policy("version: 1\ndefault:\n  actions:\n    - quarantine_content: now\n")


def test_an_unreadable_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="HASHGATE_MODERATION__POLICY_FILE"):
        load_policy(tmp_path / "missing.yaml")
