"""ORM rows to API models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from app.appeals.schemas import AppealRead
from app.auth.policy import may
from app.conversations.schemas import (
    ConversationRead,
    ConversationSummary,
    DissatisfactionTurnRead,
    EmotionSummary,
    FindingRead,
    KeywordRead,
    RedactionRead,
    ReviewRead,
    UtteranceRead,
)
from app.db import Appeal, Conversation
from pipelines.types import Severity

# Whoever may call this route may see supervisors' review notes in a conversation too.
REVIEW_READING_ROUTE = "list_reviews"
# …and the appeals with their decisions (an agent sees its own conversation's: they are its appeals).
APPEAL_READING_ROUTE = "list_conversation_appeals"


def _severity(value: int) -> str:
    return Severity(value).label


def to_summary(conv: Conversation) -> ConversationSummary:
    """List row."""
    return ConversationSummary(
        id=conv.id,
        external_id=conv.external_id,
        source=conv.source,
        channel=conv.channel,
        agent_id=conv.agent_id,
        customer_id=conv.customer_id,
        started_at=conv.started_at,
        created_at=conv.created_at,
        status=conv.status,
        score=conv.score,
        severity=_severity(conv.severity),
        flagged=conv.flagged,
        review_status=conv.review_status,
        customer_emotion=conv.customer_emotion,
        emotion_trajectory=conv.emotion_trajectory,
        dissatisfaction=conv.dissatisfaction,
    )


def to_read(
    conv: Conversation,
    *,
    job_id: uuid.UUID | None = None,
    role: str | None = None,
    appeals: Sequence[Appeal] = (),
) -> ConversationRead:
    """Full view of one conversation as `role` may see it: review notes only for roles that may read reviews.

    Without a role the reviews and appeals are left out (fail closed).
    """
    summary = to_summary(conv)
    times = {u.index: (u.start_ms, u.end_ms) for u in conv.utterances}
    return ConversationRead(
        **summary.model_dump(),
        analysis_error=conv.analysis_error,
        analysed_at=conv.analysed_at,
        lexicon_version=conv.lexicon_version,
        score_breakdown=conv.score_breakdown,
        metrics=conv.metrics,
        emotion=EmotionSummary(**conv.emotion_summary) if conv.emotion_summary else None,
        dissatisfaction_turns=[
            DissatisfactionTurnRead.model_validate(t) for t in conv.dissatisfaction_turns or []
        ],
        utterances=[
            UtteranceRead(
                index=u.index,
                speaker=u.speaker,
                text=u.text,
                start_ms=u.start_ms,
                end_ms=u.end_ms,
                emotion=u.emotion,
                emotion_confidence=u.emotion_confidence,
                emotion_probs=u.emotion_probs,
            )
            for u in conv.utterances
        ],
        findings=[
            FindingRead(
                id=f.id,
                kind=f.kind,
                category=f.category,
                term=f.term,
                severity=_severity(f.severity),
                utterance_index=f.utterance_index,
                start=f.start,
                end=f.end,
                rule=f.rule,
                detail=f.detail,
                lexicon_version=f.lexicon_version,
                rules_version=f.rules_version,
                overturned_at=f.overturned_at,
                start_ms=times.get(f.utterance_index, (None, None))[0]
                if f.utterance_index is not None
                else None,
                end_ms=times.get(f.utterance_index, (None, None))[1]
                if f.utterance_index is not None
                else None,
            )
            for f in conv.findings
        ],
        keywords=[KeywordRead(term=k.term, weight=k.weight, speaker=k.speaker) for k in conv.keywords],
        reviews=[
            ReviewRead(status=r.status, note=r.note, reviewer=r.reviewer, created_at=r.created_at)
            for r in conv.reviews
        ]
        if role is not None and may(role, REVIEW_READING_ROUTE)
        else [],
        job_id=job_id,
        audio_available=conv.audio_path is not None and conv.audio_deleted_at is None,
        redactions=[RedactionRead.model_validate(r) for r in conv.audio_redactions or []],
        appeals=[AppealRead.model_validate(a) for a in appeals]
        if role is not None and may(role, APPEAL_READING_ROUTE)
        else [],
    )
