"""A conversation's score, severity and flag from its stored findings, by the pipeline's own scorer.

The audit scores what it just found; after a supervisor overturns a finding (an upheld appeal's opposite),
or when a re-analysis carries an overturned finding over, the same pure `Scorer` scores what still counts.
"""

from __future__ import annotations

from typing import Any

from app.db import Conversation
from pipelines import types as pt
from pipelines.scoring import Scorer


def score_breakdown(score: pt.Score) -> dict[str, Any]:
    """The stored form of a score: total, fatal and every item (they add up to the total)."""
    return {
        "total": score.total,
        "fatal": score.fatal,
        "items": [
            {
                "rule": i.rule,
                "dimension": i.dimension,
                "points": i.points,
                "reason": i.reason,
                "fatal": i.fatal,
            }
            for i in score.items
        ],
    }


def counting_findings(conv: Conversation) -> list[pt.Finding]:
    """The conversation's findings that still count (not overturned), in the order the audit scores them."""
    rows = [f for f in conv.findings if f.overturned_at is None]
    # The audit sorts by place in the conversation before scoring; ties keep the stored order (stable).
    rows.sort(key=lambda f: (f.utterance_index if f.utterance_index is not None else -1, f.start or 0))
    return [
        pt.Finding(
            kind=f.kind,  # type: ignore[arg-type]  # stored by the audit from a FindingKind
            category=f.category,
            severity=pt.Severity(f.severity),
            rule=f.rule,
            term=f.term,
            utterance_index=f.utterance_index,
            start=f.start,
            end=f.end,
            detail=f.detail,
        )
        for f in rows
    ]


def rescore(conv: Conversation, *, scorer: Scorer) -> None:
    """Recompute score, breakdown, severity and flag from the findings that still count (flushes nothing)."""
    findings = counting_findings(conv)
    utterances = tuple(
        pt.Utterance(u.index, u.speaker, u.text, u.start_ms, u.end_ms)  # type: ignore[arg-type]
        for u in conv.utterances
    )
    emotion = pt.ConversationEmotion(**conv.emotion_summary) if conv.emotion_summary else None
    score = scorer.score(findings, conversation_emotion=emotion, utterances=utterances)
    severity = scorer.severity(findings)
    conv.score = score.total
    conv.score_breakdown = score_breakdown(score)
    conv.severity = int(severity)
    conv.flagged = scorer.flagged(severity, score)
