"""The moderation policy: which actions a match triggers, per tenant, match source and violation.

The file is YAML (see deploy/policy.example.yaml). Rules are tried in order and the first one
whose ``match`` fits the verdict decides; a verdict no rule fits gets the ``default`` actions,
which must not be empty, so no match can ever go without an action. Every problem in the file
is reported at once, each with its line, and the agent refuses to start until they are fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streams.downstream.yaml_lines import MarkedDocument, error_line, load_marked
from streams.errors import ConfigurationError
from streams.events import ActionKind, Verdict

#: Actions that name what they go to in the policy; the others need no argument.
TARGETED = {ActionKind.OPEN_REVIEW_CASE: "queue", ActionKind.NOTIFY_TEAM: "team"}

DEFAULT_RULE = "default"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionSpec(_Strict):
    """``quarantine_content``, ``suspend_uploader``, ``open_review_case: <queue>`` or
    ``notify_team: <team>``."""

    kind: ActionKind
    target: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": data}
        if isinstance(data, dict) and len(data) == 1 and "kind" not in data:
            ((kind, target),) = data.items()
            return {"kind": kind, "target": target}
        if isinstance(data, dict):
            raise ValueError("write an action as `name` or `name: argument`, one per item")
        return data

    @model_validator(mode="after")
    def _argument_fits(self) -> Self:
        wanted = TARGETED.get(self.kind)
        if wanted and not (self.target or "").strip():
            raise ValueError(f"{self.kind.value} needs a {wanted}: `{self.kind.value}: <{wanted}>`")
        if not wanted and self.target is not None:
            raise ValueError(f"{self.kind.value} takes no argument")
        return self


class Match(_Strict):
    """All given conditions must hold; an empty list means "any". ``sources`` and
    ``violations`` are checked against each match flag: one flag must satisfy both."""

    tenants: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    violations: list[str] = Field(default_factory=list)

    def fits(self, verdict: Verdict) -> bool:
        if self.tenants and verdict.tenant not in self.tenants:
            return False
        if not self.sources and not self.violations:
            return True
        return any(
            (not self.sources or flag.source in self.sources)
            and (not self.violations or set(flag.violations) & set(self.violations))
            for flag in verdict.matches
        )


class Rule(_Strict):
    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    actions: list[ActionSpec] = Field(min_length=1)


class DefaultRule(_Strict):
    actions: list[ActionSpec] = Field(min_length=1)


class Policy(_Strict):
    version: Literal[1]
    rules: list[Rule] = Field(default_factory=list)
    default: DefaultRule

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [rule.name for rule in self.rules]
        repeated = sorted({n for n in names if names.count(n) > 1} | ({DEFAULT_RULE} & set(names)))
        if repeated:
            raise ValueError(f"rule names must be unique and not 'default': {repeated}")
        return self

    def decide(self, verdict: Verdict) -> tuple[str, list[ActionSpec]]:
        """The deciding rule's name and its actions."""
        for rule in self.rules:
            if rule.match.fits(verdict):
                return rule.name, rule.actions
        return DEFAULT_RULE, self.default.actions


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """Validate a policy document; ConfigurationError lists every problem with its line."""
    try:
        document = load_marked(text)
    except yaml.YAMLError as exc:
        line = error_line(exc)
        where = f"{source} line {line}" if line else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigurationError(f"{where}: not valid YAML: {problem}") from None
    try:
        return Policy.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc, document, source)) from None


def _describe(exc: ValidationError, document: MarkedDocument, source: str) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        location = [part for part in err["loc"] if isinstance(part, str | int)]
        dotted = ".".join(str(part) for part in location) or "(document)"
        message = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{source} line {document.line_of(location)}: {dotted}: {message}")
    return "invalid moderation policy:\n  " + "\n  ".join(problems)


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"HASHGATE_MODERATION__POLICY_FILE: cannot read {path}: {exc.strerror}"
        ) from None
    return parse_policy(text, source=str(path))
