"""Alert rules (lexicons/alerts.yaml): parsed and validated once, evaluated per recorded audit result.

Evaluation here is pure (findings and a score in, matches out); counting an agent's flagged conversations
of the day needs the database and is done by the caller (`app.alerts.raising`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.alerts.enums import AlertScope
from pipelines.types import Severity

ALERTS_FILE = "alerts.yaml"
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_KINDS = frozenset({"sensitive_word", "pii", "service_norm", "emotion", "abuse"})
_CONDITIONS = ("findings", "score_below", "agent_flagged_per_day", "dissatisfaction_min")
_RULE_FIELDS = frozenset({"id", "name", "severity", "enabled", *_CONDITIONS})
_FINDING_FIELDS = frozenset({"kinds", "categories", "exclude_categories", "terms", "min_severity"})
MAX_MATCHES_KEPT = 10


class AlertRulesError(ValueError):
    """alerts.yaml is not valid; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class FindingView:
    """The parts of a stored finding a rule looks at."""

    kind: str
    category: str
    term: str | None
    severity: int
    utterance_index: int | None = None


@dataclass(frozen=True, slots=True)
class FindingMatch:
    """A `findings:` condition: every field given must hold (lists: any of)."""

    kinds: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()
    terms: frozenset[str] = frozenset()
    min_severity: Severity = Severity.NONE

    def matches(self, f: FindingView) -> bool:
        """True if the finding meets every field of the condition."""
        return (
            (not self.kinds or f.kind in self.kinds)
            and (not self.categories or f.category in self.categories)
            and f.category not in self.exclude_categories
            and (not self.terms or (f.term is not None and f.term in self.terms))
            and f.severity >= self.min_severity
        )


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One rule: exactly one of `findings`, `score_below`, `agent_flagged_per_day` is set."""

    id: str
    name: str
    severity: Severity
    findings: FindingMatch | None = None
    score_below: float | None = None
    agent_flagged_per_day: int | None = None
    dissatisfaction_min: float | None = None  # the conversation's 不满意度 (0-1) at least this (issue 11)

    @property
    def scope(self) -> AlertScope:
        """Per conversation, or per agent and day."""
        return AlertScope.AGENT_DAY if self.agent_flagged_per_day is not None else AlertScope.CONVERSATION

    def matched_findings(self, findings: Sequence[FindingView]) -> list[FindingView]:
        """The findings a `findings:` rule matches (empty: the rule does not fire)."""
        if self.findings is None:
            return []
        cond = self.findings
        return [f for f in findings if cond.matches(f)]

    def score_fires(self, score: float | None) -> bool:
        """True if a `score_below:` rule fires for this score (an unscored conversation never does)."""
        return self.score_below is not None and score is not None and score < self.score_below

    def dissatisfaction_fires(self, dissatisfaction: float | None) -> bool:
        """True if a `dissatisfaction_min:` rule fires (a conversation the model did not score never does)."""
        limit = self.dissatisfaction_min
        return limit is not None and dissatisfaction is not None and dissatisfaction >= limit


@dataclass(frozen=True, slots=True)
class AlertRules:
    """All enabled rules, in file order; `version` is a short sha256 of the file."""

    rules: tuple[AlertRule, ...]
    version: str
    disabled: frozenset[str] = frozenset()  # ids of rules switched off with `enabled: false`

    def ids(self) -> frozenset[str]:
        """Every rule id, enabled or not (targets may name a disabled rule)."""
        return frozenset(r.id for r in self.rules) | self.disabled


def load_alert_rules(lexicon_dir: Path) -> AlertRules:
    """Read and validate `lexicon_dir/alerts.yaml`; a missing file means no alert rules."""
    path = lexicon_dir / ALERTS_FILE
    if not path.exists():
        return AlertRules(rules=(), version="none")
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise AlertRulesError(f"{ALERTS_FILE}: not valid YAML: {exc}") from exc
    return parse_alert_rules(doc, version=hashlib.sha256(raw).hexdigest()[:12])


def parse_alert_rules(doc: Any, *, version: str) -> AlertRules:
    """Validate a parsed alerts.yaml document."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise AlertRulesError(f"{ALERTS_FILE}: expected a mapping with a `rules:` list")
    unknown = set(doc) - {"version", "rules"}
    if unknown:
        raise AlertRulesError(f"{ALERTS_FILE}: unknown top-level keys {sorted(unknown)}")
    rules: list[AlertRule] = []
    disabled: set[str] = set()
    seen: set[str] = set()
    for pos, item in enumerate(doc["rules"]):
        rule, enabled = _rule(item, pos)
        if rule.id in seen:
            raise AlertRulesError(f"{ALERTS_FILE}: rule id {rule.id!r} appears twice")
        seen.add(rule.id)
        if enabled:
            rules.append(rule)
        else:
            disabled.add(rule.id)
    return AlertRules(rules=tuple(rules), version=version, disabled=frozenset(disabled))


def _rule(item: Any, pos: int) -> tuple[AlertRule, bool]:
    where = f"{ALERTS_FILE}: rules[{pos}]"
    if not isinstance(item, Mapping):
        raise AlertRulesError(f"{where}: expected a mapping")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise AlertRulesError(f"{where}: `id` must be lower-case letters, digits and _ (at most 64)")
    where = f"{ALERTS_FILE}: rule {rule_id!r}"
    if unknown := set(item) - _RULE_FIELDS:
        raise AlertRulesError(f"{where}: unknown fields {sorted(unknown)}")
    name = item.get("name", rule_id)
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise AlertRulesError(f"{where}: `name` must be a non-empty string of at most 100 characters")
    severity = _severity(item.get("severity"), f"{where}: `severity`")
    if severity == Severity.NONE:
        raise AlertRulesError(f"{where}: `severity` must be 一般, 重要 or 重大")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise AlertRulesError(f"{where}: `enabled` must be true or false")
    given = [c for c in _CONDITIONS if c in item]
    if len(given) != 1:
        raise AlertRulesError(f"{where}: exactly one of {', '.join(_CONDITIONS)} is required")
    cond = given[0]
    value = item[cond]
    if cond == "findings":
        rule = AlertRule(rule_id, name, severity, findings=_finding_match(value, f"{where}: `findings`"))
    elif cond == "score_below":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
            raise AlertRulesError(f"{where}: `score_below` must be a number in (0, 100]")
        rule = AlertRule(rule_id, name, severity, score_below=float(value))
    elif cond == "dissatisfaction_min":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise AlertRulesError(f"{where}: `dissatisfaction_min` must be a number in (0, 1]")
        rule = AlertRule(rule_id, name, severity, dissatisfaction_min=float(value))
    else:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
            raise AlertRulesError(f"{where}: `agent_flagged_per_day` must be a whole number from 1 to 10000")
        rule = AlertRule(rule_id, name, severity, agent_flagged_per_day=value)
    return rule, enabled


def _finding_match(value: Any, where: str) -> FindingMatch:
    if not isinstance(value, Mapping) or not value:
        raise AlertRulesError(f"{where}: expected a mapping with at least one of {sorted(_FINDING_FIELDS)}")
    if unknown := set(value) - _FINDING_FIELDS:
        raise AlertRulesError(f"{where}: unknown fields {sorted(unknown)}")
    lists = {k: _strings(value.get(k, []), f"{where}.{k}") for k in _FINDING_FIELDS - {"min_severity"}}
    if bad := lists["kinds"] - _KINDS:
        raise AlertRulesError(f"{where}.kinds: unknown kinds {sorted(bad)} (one of {sorted(_KINDS)})")
    min_severity = Severity.NONE
    if "min_severity" in value:
        min_severity = _severity(value["min_severity"], f"{where}.min_severity")
    return FindingMatch(
        kinds=lists["kinds"],
        categories=lists["categories"],
        exclude_categories=lists["exclude_categories"],
        terms=lists["terms"],
        min_severity=min_severity,
    )


def _strings(value: Any, where: str) -> frozenset[str]:
    # YAML reads 12315 as a number: terms that are numbers are accepted and compared as text.
    if not isinstance(value, list) or not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in value
    ):
        raise AlertRulesError(f"{where}: expected a list of strings")
    return frozenset(str(v) for v in value)


def _severity(value: Any, where: str) -> Severity:
    if not isinstance(value, str):
        raise AlertRulesError(f"{where}: expected 一般, 重要 or 重大")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise AlertRulesError(f"{where}: {exc}") from exc
