"""Conversation endpoints: post transcripts (one or a batch), read one, search, re-analyse."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.auth.dependencies import IngestKey, ReaderKey, SearchKey
from app.conversations import presenters, repository, service
from app.conversations.repository import ConversationFilters
from app.conversations.schemas import (
    BatchResult,
    ConversationBatch,
    ConversationCreate,
    ConversationRead,
    ConversationSummary,
    ReviewStatus,
    SeverityName,
)
from app.deps import DbSession, Runtime
from app.errors import error_responses
from app.schemas_common import Page
from pipelines.types import Severity

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


@router.post(
    "",
    response_model=ConversationRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ConversationRead, "description": "already posted"},
        **error_responses(401, 403, 409, 422),
    },
)
def create_conversation(
    payload: ConversationCreate, session: DbSession, runtime: Runtime, _key: IngestKey, response: Response
) -> ConversationRead:
    """Store a transcript (personal data masked), audit it, and return the findings. Re-posting is idempotent."""
    conv, created = service.create_conversation(session, runtime=runtime, payload=payload)
    if not created:
        response.status_code = status.HTTP_200_OK
    return presenters.to_read(conv)


@router.post("/batch", response_model=BatchResult, responses=error_responses(401, 403, 413, 422))
def create_conversations_batch(
    payload: ConversationBatch, session: DbSession, runtime: Runtime, _key: IngestKey
) -> BatchResult:
    """Post up to 100 transcripts; each item succeeds or fails on its own."""
    return service.create_batch(session, runtime=runtime, items=payload.conversations)


@router.get("", response_model=Page[ConversationSummary], responses=error_responses(400, 401, 403, 422))
def list_conversations(
    session: DbSession,
    _key: SearchKey,
    flagged: bool | None = None,
    review_status: ReviewStatus | None = None,
    status_: Annotated[
        Literal["received", "pending_transcription", "analysed", "failed"] | None, Query(alias="status")
    ] = None,
    severity_min: SeverityName | None = None,
    keyword: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="substring of the text")] = None,
    category: str | None = None,
    kind: Literal["sensitive_word", "pii", "service_norm", "emotion"] | None = None,
    term: str | None = None,
    agent_id: str | None = None,
    channel: Literal["phone", "chat"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    score_min: float | None = None,
    score_max: float | None = None,
    emotion: Literal["neutral", "happy", "angry", "sad", "anxious", "surprised"] | None = None,
    speaker: Literal["agent", "customer", "unknown"] | None = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    trajectory: Literal["escalated", "calmed", "stable", "unknown"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ConversationSummary]:
    """Search conversations, most severe then newest first; `next_cursor` pages on, `total` counts matches."""
    filters = ConversationFilters(
        flagged=flagged,
        review_status=review_status,
        status=status_,
        severity_min=Severity.parse(severity_min) if severity_min else None,
        keyword=keyword,
        q=q,
        category=category,
        kind=kind,
        term=term,
        agent_id=agent_id,
        channel=channel,
        since=since,
        until=until,
        score_min=score_min,
        score_max=score_max,
        emotion=emotion,
        speaker=speaker,
        min_confidence=min_confidence,
        trajectory=trajectory,
    )
    rows, next_cursor, total = service.list_conversations(
        session, filters=filters, cursor=cursor, limit=limit
    )
    return Page[ConversationSummary](
        items=[presenters.to_summary(r) for r in rows], next_cursor=next_cursor, total=total
    )


@router.get(
    "/{conversation_id}", response_model=ConversationRead, responses=error_responses(401, 403, 404, 422)
)
def get_conversation(conversation_id: uuid.UUID, session: DbSession, _key: ReaderKey) -> ConversationRead:
    """One conversation: masked utterances, findings with offsets, keywords, score breakdown, reviews."""
    conv = service.get_conversation(session, conversation_id=conversation_id)
    return presenters.to_read(conv, job_id=repository.job_id_for(session, conversation_id=conv.id))


@router.post(
    "/{conversation_id}/reanalyze",
    response_model=ConversationRead,
    responses=error_responses(401, 403, 404, 409),
)
def reanalyze_conversation(
    conversation_id: uuid.UUID, session: DbSession, runtime: Runtime, _key: IngestKey
) -> ConversationRead:
    """Audit the stored text again with the lexicons in force (after a failure or a lexicon change)."""
    conv = service.reanalyze(session, runtime=runtime, conversation_id=conversation_id)
    return presenters.to_read(conv)
