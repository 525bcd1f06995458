"""The service-norm and scoring rules (lexicons/rules.yaml) as a validated, frozen RuleSet.

`load_rules` parses and validates once; a bad file raises `RuleSetError` naming the offending key, so a QA
lead's typo fails the reload instead of silently disabling a check. `pipelines.rules` re-exports both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.types import EMOTION_LABELS, Channel, Finding, Severity

CHANNELS: tuple[Channel, ...] = ("phone", "chat")
SPEAKERS = frozenset({"agent", "customer", "unknown"})
# Parameters each norm accepts (besides category/severity); a norm missing from the YAML is disabled.
NORM_PARAMS: dict[str, frozenset[str]] = {
    "greeting": frozenset({"first_agent_turns", "phrases"}),
    "closing": frozenset({"last_agent_turns", "phrases"}),
    "empathy": frozenset({"next_agent_turns", "phrases"}),
    "empathy_shown": frozenset(),
    "refusal": frozenset({"phrases"}),
    "polite": frozenset({"markers", "min_ratio"}),
    "customer_ends_angry": frozenset({"emotions", "min_confidence", "last_customer_turns"}),
    "first_response": frozenset({"max_ms"}),
    "slow_reply": frozenset({"max_ms"}),
    "silence": frozenset({"min_gap_ms"}),
    "interruption": frozenset({"min_overlap_ms"}),
    "speaker_roles": frozenset(),
}
_TURN_KEYS = ("first_agent_turns", "last_agent_turns", "next_agent_turns", "last_customer_turns")
_MS_KEYS = ("max_ms", "min_gap_ms")


class RuleSetError(ValueError):
    """rules.yaml is missing, malformed or inconsistent; the message names the key."""


@dataclass(frozen=True, slots=True)
class Norm:
    """One service-norm rule: what it reports (category, severity) and its parameters."""

    id: str
    category: str
    severity: Severity
    phrases: tuple[str, ...] = ()
    turns: int = 0  # first/last/next agent turns, or last customer turns, depending on the rule
    emotions: frozenset[str] = frozenset()
    min_confidence: float = 0.0
    min_ratio: float | None = None
    limit_ms: tuple[tuple[Channel, int | None], ...] = ()  # per channel; None disables the check
    min_overlap_ms: int = 0

    @property
    def rule(self) -> str:
        """The finding's rule id, e.g. norm:greeting."""
        return f"norm:{self.id}"

    def limit_for(self, channel: Channel) -> int | None:
        """The channel's threshold in ms, or None when the check is off for that channel."""
        return dict(self.limit_ms).get(channel)


@dataclass(frozen=True, slots=True)
class NegativeTurn:
    """When a customer turn counts as negative: emotion label and confidence, else cue words."""

    emotions: frozenset[str]
    min_confidence: float
    cues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindingMatch:
    """Which findings a scoring line applies to; every field left None matches anything."""

    kinds: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    severities: frozenset[Severity] | None = None
    min_severity: Severity | None = None
    speakers: frozenset[str] | None = None

    def matches(self, finding: Finding, speaker: str) -> bool:
        """True when `finding`, said by `speaker` (unknown when not known), fits every condition."""
        checks = (
            self.kinds is None or finding.kind in self.kinds,
            self.categories is None or finding.category in self.categories,
            self.rules is None or finding.rule in self.rules,
            self.severities is None or finding.severity in self.severities,
            self.min_severity is None or finding.severity >= self.min_severity,
            self.speakers is None or speaker in self.speakers,
        )
        return all(checks)


@dataclass(frozen=True, slots=True)
class ScoreLine:
    """A deduction, addition or fatal (一票否决) line of the scorecard."""

    id: str
    dimension: str
    points: float
    max_times: int
    reason: str
    match: FindingMatch


@dataclass(frozen=True, slots=True)
class Dimension:
    """A scorecard dimension and the points it is worth."""

    key: str
    name: str
    points: float


@dataclass(frozen=True, slots=True)
class TrajectoryLine:
    """Points for the customer's emotion trajectory (negative = deduction)."""

    trajectory: str
    dimension: str
    points: float
    reason: str


@dataclass(frozen=True, slots=True)
class ScoringRules:
    """The 100-point scorecard."""

    dimensions: tuple[Dimension, ...]
    fatal: tuple[ScoreLine, ...]
    deductions: tuple[ScoreLine, ...]
    additions: tuple[ScoreLine, ...]
    trajectory: tuple[TrajectoryLine, ...]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Everything rules.yaml configures; `version` is a short sha256 of the file."""

    version: str
    flag_min_severity: Severity
    flag_score_below: float
    negative_turn: NegativeTurn
    norms: tuple[Norm, ...]
    scoring: ScoringRules
    # flag.dissatisfaction_min: a conversation whose dissatisfaction (0-1) is at or above it is flagged too;
    # None (left out) = the model's score is shown but never flags
    flag_dissatisfaction_min: float | None = None

    def flags_dissatisfaction(self, dissatisfaction: float | None) -> bool:
        """True when the conversation-level dissatisfaction reaches the flag threshold."""
        limit = self.flag_dissatisfaction_min
        return limit is not None and dissatisfaction is not None and dissatisfaction >= limit

    def norm(self, norm_id: str) -> Norm | None:
        """The configured norm with this id, or None when the YAML leaves it out (disabled)."""
        return next((n for n in self.norms if n.id == norm_id), None)


def load_rules(path: Path) -> RuleSet:
    """Parse and validate lexicons/rules.yaml."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleSetError(f"{path}: cannot read rules ({exc})") from exc
    return parse_rules(raw, source=str(path))


def parse_rules(raw: bytes, *, source: str, version: str | None = None) -> RuleSet:
    """Parse and validate a rules YAML text (a file's or a stored version's); `version` defaults to its sha."""
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RuleSetError(f"{source}: invalid YAML ({exc})") from exc
    try:
        return _parse(doc, version or hashlib.sha256(raw).hexdigest()[:12])
    except RuleSetError as exc:
        raise RuleSetError(f"{source}: {exc}") from None


def _parse(doc: Any, version: str) -> RuleSet:
    root = _mapping(doc, "top level", {"version", "flag", "negative_turn", "norms", "scoring"})
    flag = _mapping(root.get("flag"), "flag", {"min_severity", "score_below", "dissatisfaction_min"})
    neg = _mapping(root.get("negative_turn"), "negative_turn", {"emotions", "min_confidence", "cues"})
    norms = _mapping(root.get("norms"), "norms", set(NORM_PARAMS))
    return RuleSet(
        version=version,
        flag_min_severity=_severity(flag.get("min_severity"), "flag.min_severity"),
        flag_score_below=_number(flag.get("score_below"), "flag.score_below", 0, 100),
        negative_turn=NegativeTurn(
            emotions=_emotions(neg.get("emotions"), "negative_turn.emotions"),
            min_confidence=_number(neg.get("min_confidence"), "negative_turn.min_confidence", 0, 1),
            cues=_strings(neg.get("cues"), "negative_turn.cues"),
        ),
        norms=tuple(_norm(key, value) for key, value in norms.items()),
        scoring=_scoring(root.get("scoring")),
        flag_dissatisfaction_min=(
            None
            if flag.get("dissatisfaction_min") is None
            else _number(flag.get("dissatisfaction_min"), "flag.dissatisfaction_min", 0, 1)
        ),
    )


def _norm(norm_id: str, value: Any) -> Norm:
    where = f"norms.{norm_id}"
    params = NORM_PARAMS[norm_id]
    body = _mapping(value, where, params | {"category", "severity"})
    missing = sorted(params - set(body))
    if missing:
        raise RuleSetError(f"{where}: missing {', '.join(missing)}")
    turns = next((body[k] for k in _TURN_KEYS if k in body), 0)
    limits = next((body[k] for k in _MS_KEYS if k in body), None)
    ratio = body.get("min_ratio")
    word_key = next((k for k in ("phrases", "markers") if k in params), None)
    return Norm(
        id=norm_id,
        category=_string(body.get("category"), f"{where}.category"),
        severity=_severity(body.get("severity"), f"{where}.severity"),
        phrases=_strings(body[word_key], f"{where}.{word_key}") if word_key else (),
        turns=int(_number(turns, f"{where} turns", 0, 1000)),
        emotions=_emotions(body["emotions"], f"{where}.emotions") if "emotions" in body else frozenset(),
        min_confidence=_number(body.get("min_confidence", 0), f"{where}.min_confidence", 0, 1),
        min_ratio=None if ratio is None else _number(ratio, f"{where}.min_ratio", 0, 1),
        limit_ms=_channel_ms(limits, where) if limits is not None else (),
        min_overlap_ms=int(_number(body.get("min_overlap_ms", 0), f"{where}.min_overlap_ms", 0, 10**7)),
    )


def _scoring(value: Any) -> ScoringRules:
    body = _mapping(value, "scoring", {"dimensions", "fatal", "deductions", "additions", "trajectory"})
    dims_raw = _mapping(body.get("dimensions"), "scoring.dimensions", None)
    dimensions = []
    for key, dim in dims_raw.items():
        d = _mapping(dim, f"scoring.dimensions.{key}", {"name", "points"})
        where = f"scoring.dimensions.{key}"
        dimensions.append(
            Dimension(key, _string(d.get("name"), where + ".name"), _number(d.get("points"), where, 0, 100))
        )
    if not dimensions or abs(sum(d.points for d in dimensions) - 100) > 1e-9:
        raise RuleSetError("scoring.dimensions: points must add up to 100")
    keys = {d.key for d in dimensions}
    trajectory = []
    traj_raw = _mapping(
        body.get("trajectory", {}), "scoring.trajectory", {"escalated", "calmed", "stable", "unknown"}
    )
    for name, line in traj_raw.items():
        where = f"scoring.trajectory.{name}"
        t = _mapping(line, where, {"dimension", "points", "reason"})
        trajectory.append(
            TrajectoryLine(name, _dimension(t.get("dimension"), keys, where), _number(t.get("points"), where, -100, 100),
                           _string(t.get("reason"), where + ".reason"))
        )  # fmt: skip
    return ScoringRules(
        dimensions=tuple(dimensions),
        fatal=_lines(body.get("fatal", []), "scoring.fatal", keys, fatal=True),
        deductions=_lines(body.get("deductions", []), "scoring.deductions", keys),
        additions=_lines(body.get("additions", []), "scoring.additions", keys),
        trajectory=tuple(trajectory),
    )


def _lines(value: Any, where: str, dims: set[str], *, fatal: bool = False) -> tuple[ScoreLine, ...]:
    if not isinstance(value, list):
        raise RuleSetError(f"{where}: expected a list")
    lines = []
    allowed = (
        {"id", "reason", "match"} if fatal else {"id", "dimension", "points", "max_times", "reason", "match"}
    )
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        body = _mapping(item, at, allowed)
        lines.append(
            ScoreLine(
                id=_string(body.get("id"), f"{at}.id"),
                dimension="" if fatal else _dimension(body.get("dimension"), dims, at),
                points=0.0 if fatal else _number(body.get("points"), f"{at}.points", 0, 100),
                max_times=1 if fatal else int(_number(body.get("max_times", 1), f"{at}.max_times", 1, 1000)),
                reason=_string(body.get("reason"), f"{at}.reason"),
                match=_match(body.get("match"), f"{at}.match"),
            )
        )
    return tuple(lines)


def _match(value: Any, where: str) -> FindingMatch:
    body = _mapping(value, where, {"kind", "category", "rule", "severity", "min_severity", "speaker"})
    if not body:
        raise RuleSetError(f"{where}: needs at least one condition")

    def names(key: str) -> frozenset[str] | None:
        if key not in body:
            return None
        raw = body[key]
        return frozenset(_strings([raw] if isinstance(raw, str) else raw, f"{where}.{key}"))

    speakers = names("speaker")
    if speakers is not None and not speakers <= SPEAKERS:
        raise RuleSetError(f"{where}.speaker: expected agent, customer or unknown")
    severities = names("severity")
    return FindingMatch(
        kinds=names("kind"),
        categories=names("category"),
        rules=names("rule"),
        severities=None
        if severities is None
        else frozenset(_severity(s, f"{where}.severity") for s in severities),
        min_severity=_severity(body["min_severity"], f"{where}.min_severity")
        if "min_severity" in body
        else None,
        speakers=speakers,
    )


def _mapping(value: Any, where: str, allowed: set[str] | frozenset[str] | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RuleSetError(f"{where}: expected a mapping")
    if allowed is not None:
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise RuleSetError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuleSetError(f"{where}: expected a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise RuleSetError(f"{where}: expected a non-empty list of strings")
    return tuple(value)


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise RuleSetError(f"{where}: expected a number in [{low}, {high}], got {value!r}")
    return float(value)


def _severity(value: Any, where: str) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError:
        raise RuleSetError(f"{where}: unknown severity {value!r}") from None


def _emotions(value: Any, where: str) -> frozenset[str]:
    labels = frozenset(_strings(value, where))
    if not labels <= set(EMOTION_LABELS):
        raise RuleSetError(f"{where}: unknown emotion(s) {', '.join(sorted(labels - set(EMOTION_LABELS)))}")
    return labels


def _channel_ms(value: Any, where: str) -> tuple[tuple[Channel, int | None], ...]:
    body = _mapping(value, f"{where} per-channel ms", set(CHANNELS))
    out: list[tuple[Channel, int | None]] = []
    for channel in CHANNELS:
        ms = body.get(channel)
        out.append((channel, None if ms is None else int(_number(ms, f"{where}.{channel}", 0, 10**8))))
    return tuple(out)


def _dimension(value: Any, dims: set[str], where: str) -> str:
    if value not in dims:
        raise RuleSetError(f"{where}.dimension: expected one of {', '.join(sorted(dims))}, got {value!r}")
    return str(value)
