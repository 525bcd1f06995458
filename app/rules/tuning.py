"""The rule dry-run: what a candidate rules YAML, rule patch or lexicon change would find and flag.

The same conversations go through the audit twice, under the rules and lexicons in force and under the
candidate, sharing one pass of the models (only the lexicon and rule stages differ), and the two results
are compared finding by finding. Nothing is stored; the cost is bounded by the number of conversations and
utterances one test may take (settings `rules_test_max_*`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from app.conversations.scoring import counting_findings
from app.db import Conversation
from app.errors import PayloadTooLarge
from app.rules import repository, versions
from app.rules.exceptions import InvalidRules
from app.rules.schemas import (
    ConversationRef,
    FindingChange,
    FlagChange,
    LexiconEntryIn,
    LexiconTermRef,
    RuleChange,
    RuleTestRequest,
    RuleTestResult,
)
from app.runtime import AuditRuntime
from pipelines import types as pt
from pipelines.audit import AuditStages, mask_conversation, with_lexicon, with_rules
from pipelines.rules import RuleSet
from pipelines.sensitive_lexicon import LexiconError, SensitiveLexicon, parse_category_file

CANDIDATE = "candidate"
_EXCERPT_CHARS = 200
_MAX_FLAG_CHANGES = 50

FindingKey = tuple[str, str, str, str | None, int | None, int | None, int | None]


@dataclass(frozen=True)
class _Input:
    ref: ConversationRef
    masked: pt.Conversation
    pii: list[pt.Finding]


def dry_run(session: Session, *, runtime: AuditRuntime, request: RuleTestRequest) -> RuleTestResult:
    """Audit the input under current and candidate configuration and report the differences."""
    settings = runtime.settings
    current = runtime.pipeline
    candidate = _candidate_stages(session, runtime=runtime, stages=current.stages, request=request)
    inputs, truncated = _inputs(session, runtime=runtime, request=request)
    utterances = sum(len(i.masked.utterances) for i in inputs)
    if utterances > settings.rules_test_max_utterances:
        raise PayloadTooLarge(
            f"{utterances} utterances; one rule test takes at most {settings.rules_test_max_utterances}"
        )
    before, after = current.run_masked_variants(
        [(i.masked, i.pii) for i in inputs], [current.stages, candidate]
    )
    return _compare(
        inputs,
        before,
        after,
        examples=request.examples,
        truncated=truncated,
        stages=(
            current.stages,
            candidate,
        ),
    )


def _candidate_stages(
    session: Session, *, runtime: AuditRuntime, stages: AuditStages, request: RuleTestRequest
) -> AuditStages:
    out = stages
    rules = _candidate_rules(session, runtime=runtime, request=request)
    if rules is not None:
        out = with_rules(out, rules)
    if request.lexicon_entries or request.lexicon_remove:
        lexicon = _candidate_lexicon(
            stages.matcher.lexicon, add=request.lexicon_entries or [], remove=request.lexicon_remove or []
        )
        try:
            out = with_lexicon(out, lexicon)
        except (LexiconError, ValueError) as exc:
            raise InvalidRules(f"candidate lexicon: {exc}") from exc
    return out


def _candidate_rules(session: Session, *, runtime: AuditRuntime, request: RuleTestRequest) -> RuleSet | None:
    max_bytes = runtime.settings.rules_max_yaml_bytes
    if request.rules_yaml is not None:
        return _named(versions.parse_version(request.rules_yaml, number=None, max_bytes=max_bytes))
    if request.rules_patch is None:
        return None
    doc = yaml.safe_load(versions.in_force_text(session, runtime=runtime))
    for path, value in request.rules_patch.items():
        _set_path(doc, path, value)
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    return _named(versions.parse_version(text, number=None, max_bytes=max_bytes))


def _named(rules: RuleSet) -> RuleSet:
    # Findings of the candidate say so; its own sha would look like a file that was never in force.
    return RuleSet(
        version=CANDIDATE,
        flag_min_severity=rules.flag_min_severity,
        flag_score_below=rules.flag_score_below,
        negative_turn=rules.negative_turn,
        norms=rules.norms,
        scoring=rules.scoring,
        flag_dissatisfaction_min=rules.flag_dissatisfaction_min,
    )


def _set_path(doc: Any, path: str, value: Any) -> None:
    """Set `a.b.c` of the rules document to `value` (None removes it: a norm left out is disabled)."""
    keys = path.split(".")
    if not all(keys):
        raise InvalidRules(f"rules_patch: {path!r} is not a dotted path like norms.refusal.phrases")
    node = doc
    for key in keys[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            raise InvalidRules(f"rules_patch: {path!r}: no mapping {key!r} in the rules in force")
        node = node[key]
    if not isinstance(node, dict):
        raise InvalidRules(f"rules_patch: {path!r}: not a mapping")
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value


def _candidate_lexicon(
    lexicon: SensitiveLexicon, *, add: Sequence[LexiconEntryIn], remove: Sequence[LexiconTermRef]
) -> SensitiveLexicon:
    """The lexicon in force with entries added or replaced (same category and term) and others removed."""
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in add:
        by_category[entry.category].append(entry.model_dump(exclude={"category"}, exclude_none=True))
    new: list[Any] = []
    for category, terms in by_category.items():
        text = yaml.safe_dump({"category": category, "terms": terms}, allow_unicode=True)
        try:
            new.extend(parse_category_file(f"candidate:{category}", text.encode()))
        except LexiconError as exc:
            raise InvalidRules(str(exc)) from exc
    known = {(e.category, e.term) for e in lexicon.entries}
    missing = [f"{r.category}/{r.term}" for r in remove if (r.category, r.term) not in known]
    if missing:
        raise InvalidRules(f"lexicon_remove: not in the lexicon in force: {', '.join(missing)}")
    dropped = {(e.category, e.term) for e in new} | {(r.category, r.term) for r in remove}
    kept = [e for e in lexicon.entries if (e.category, e.term) not in dropped]
    return SensitiveLexicon(
        entries=tuple(kept + new), allowlist=lexicon.allowlist, version=CANDIDATE, files=lexicon.files
    )


def _inputs(
    session: Session, *, runtime: AuditRuntime, request: RuleTestRequest
) -> tuple[list[_Input], bool]:
    limit = runtime.settings.rules_test_max_conversations
    if request.transcripts is not None:
        if len(request.transcripts) > limit:
            raise PayloadTooLarge(
                f"{len(request.transcripts)} transcripts; one rule test takes at most {limit}"
            )
        masker = runtime.pipeline.stages.masker
        out = []
        for index, t in enumerate(request.transcripts):
            raw = pt.Conversation(
                t.channel,
                tuple(
                    pt.Utterance(i, u.speaker, u.text, u.start_ms, u.end_ms)
                    for i, u in enumerate(t.utterances)
                ),
            )
            masked, pii = mask_conversation(masker, raw)
            out.append(_Input(ConversationRef(index=index, external_id=t.external_id), masked, pii))
        return out, False
    if request.limit > limit:
        raise PayloadTooLarge(f"limit {request.limit}; one rule test takes at most {limit} conversations")
    rows, more = repository.stored_conversations(
        session, since=request.since, until=request.until, limit=request.limit
    )
    return [_stored(index, conv) for index, conv in enumerate(rows)], more


def _stored(index: int, conv: Conversation) -> _Input:
    masked = pt.Conversation(
        conv.channel,  # type: ignore[arg-type]  # a stored channel is a valid one
        tuple(
            pt.Utterance(u.index, u.speaker, u.text, u.start_ms, u.end_ms)  # type: ignore[arg-type]
            for u in conv.utterances
        ),
    )
    # The PII masking found cannot be recomputed from masked text: the stored PII findings stand in for it.
    pii = [f for f in counting_findings(conv) if f.kind == "pii"]
    ref = ConversationRef(index=index, conversation_id=conv.id, external_id=conv.external_id)
    return _Input(ref, masked, pii)


def _key(f: pt.Finding) -> FindingKey:
    return (f.kind, f.rule, f.category, f.term, f.utterance_index, f.start, f.end)


def _compare(
    inputs: Sequence[_Input],
    before: Sequence[pt.AuditResult],
    after: Sequence[pt.AuditResult],
    *,
    examples: int,
    truncated: bool,
    stages: tuple[AuditStages, AuditStages],
) -> RuleTestResult:
    counts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    touched: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    shown: dict[tuple[str, str, str], list[FindingChange]] = defaultdict(list)
    flags: list[FlagChange] = []
    newly = unflagged = 0
    for item, old, new in zip(inputs, before, after, strict=True):
        old_keys, new_keys = Counter(map(_key, old.findings)), Counter(map(_key, new.findings))
        for change, findings, diff in (
            ("gained", new.findings, new_keys - old_keys),
            ("lost", old.findings, old_keys - new_keys),
        ):
            for f in findings:
                if diff[_key(f)] <= 0:
                    continue
                diff[_key(f)] -= 1
                group = (f.kind, f.rule, f.category)
                counts[group][change] += 1
                touched[group].add(item.ref.index)
                if sum(1 for e in shown[group] if e.change == change) < examples:
                    shown[group].append(_example(change, item, f))
        if old.flagged != new.flagged:
            newly += new.flagged
            unflagged += old.flagged
            if len(flags) < _MAX_FLAG_CHANGES:
                flags.append(
                    FlagChange(
                        change="newly_flagged" if new.flagged else "unflagged",
                        conversation=item.ref,
                        score_before=old.score.total,
                        score_after=new.score.total,
                        severity_before=old.severity.label,
                        severity_after=new.severity.label,
                    )
                )
    rules = [
        RuleChange(
            kind=kind,
            rule=rule,
            category=category,
            gained=counts[(kind, rule, category)]["gained"],
            lost=counts[(kind, rule, category)]["lost"],
            conversations=len(touched[(kind, rule, category)]),
            examples=shown[(kind, rule, category)],
        )
        for kind, rule, category in sorted(counts)
    ]
    current, candidate = stages
    return RuleTestResult(
        conversations=len(inputs),
        truncated=truncated,
        current={"rules_version": current.rules.version, "lexicon_version": current.matcher.version},
        candidate={"rules_version": candidate.rules.version, "lexicon_version": candidate.matcher.version},
        findings_gained=sum(c["gained"] for c in counts.values()),
        findings_lost=sum(c["lost"] for c in counts.values()),
        newly_flagged=newly,
        unflagged=unflagged,
        rules=rules,
        flag_changes=flags,
    )


def _example(change: str, item: _Input, f: pt.Finding) -> FindingChange:
    text = None
    if f.utterance_index is not None and 0 <= f.utterance_index < len(item.masked.utterances):
        text = item.masked.utterances[f.utterance_index].text[:_EXCERPT_CHARS]
    return FindingChange(
        change=change,
        conversation=item.ref,
        utterance_index=f.utterance_index,
        utterance=text,
        term=f.term,
        start=f.start,
        end=f.end,
        severity=f.severity.label,
    )
