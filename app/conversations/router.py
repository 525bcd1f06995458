"""Conversation endpoints: post transcripts (one or a batch), read one, search, re-analyse."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.access_log import service as access_log
from app.access_log.enums import AccessKind
from app.appeals import repository as appeals_repository
from app.auth.dependencies import Caller
from app.auth.scope import agent_scope, ensure_visible
from app.conversations import presenters, repository, service
from app.conversations.repository import ConversationFilters
from app.conversations.schemas import (
    BatchResult,
    ConversationBatch,
    ConversationCreate,
    ConversationPage,
    ConversationRead,
    ConversationSearch,
)
from app.deps import DbSession, Runtime
from app.errors import error_responses
from pipelines.types import Severity

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


async def _post_coalescer(request: Request) -> service.PostCoalescer:
    # Made on first use; an `async` dependency runs in the event loop, one at a time.
    state = request.app.state
    coalescer: service.PostCoalescer | None = getattr(state, "post_coalescer", None)
    if coalescer is None:
        coalescer = state.post_coalescer = service.PostCoalescer(
            max_group=state.settings.max_concurrent_writes
        )
    return coalescer


@router.post(
    "",
    response_model=ConversationRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ConversationRead, "description": "already posted"},
        **error_responses(400, 401, 403, 409, 422),
    },
)
def create_conversation(
    payload: ConversationCreate,
    session: DbSession,
    runtime: Runtime,
    key: Caller,
    response: Response,
    coalescer: Annotated[service.PostCoalescer, Depends(_post_coalescer)],
) -> ConversationRead:
    """Store a transcript (personal data masked), audit it, and return the findings. Re-posting is idempotent."""
    conv, created = service.create_conversation(
        session, runtime=runtime, payload=payload, coalescer=coalescer
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return presenters.to_read(conv, role=key.role)


@router.post("/batch", response_model=BatchResult, responses=error_responses(400, 401, 403, 413, 422))
def create_conversations_batch(
    payload: ConversationBatch, session: DbSession, runtime: Runtime, _key: Caller
) -> BatchResult:
    """Post up to 100 transcripts; each item succeeds or fails on its own."""
    return service.create_batch(session, runtime=runtime, items=payload.conversations)


@router.get("", response_model=ConversationPage, responses=error_responses(400, 401, 403, 422))
def list_conversations(
    search: Annotated[ConversationSearch, Query()], session: DbSession, key: Caller
) -> ConversationPage:
    """Search conversations, most severe then newest first; `next_cursor` pages on, `total` counts matches.

    `total` is exact up to 1,000 matches; beyond, it is 1,000 and `total_exact` is false.

    Times without a UTC offset are read in the centre's time zone (`AUDIT_TIMEZONE`, default Asia/Shanghai).
    A filter that only qualifies another (`speaker` needs `emotion` or `min_confidence`), `score_min` above
    `score_max` or `since` not before `until` is refused with 422; a cursor this API did not return with 400.
    An `agent` key sees only its own agent_id's conversations, whatever `agent_id` it sends.
    """
    own_agent = agent_scope(key)
    filters = ConversationFilters(
        flagged=search.flagged,
        review_status=search.review_status,
        status=search.status,
        severity_min=Severity.parse(search.severity_min) if search.severity_min else None,
        keyword=search.keyword,
        q=search.q,
        category=search.category,
        kind=search.kind,
        term=search.term,
        agent_id=own_agent if own_agent is not None else search.agent_id,
        channel=search.channel,
        since=search.since,
        until=search.until,
        score_min=search.score_min,
        score_max=search.score_max,
        emotion=search.emotion,
        speaker=search.speaker,
        min_confidence=search.min_confidence,
        trajectory=search.trajectory,
        dissatisfaction_min=search.dissatisfaction_min,
        sort=search.sort,
    )
    rows, next_cursor, total = service.list_conversations(
        session, filters=filters, cursor=search.cursor, limit=search.limit
    )
    return ConversationPage(
        items=[presenters.to_summary(r) for r in rows],
        next_cursor=next_cursor,
        total=total.value,
        total_exact=total.exact,
    )


@router.get(
    "/{conversation_id}", response_model=ConversationRead, responses=error_responses(401, 403, 404, 422)
)
def get_conversation(conversation_id: uuid.UUID, session: DbSession, key: Caller) -> ConversationRead:
    """One conversation: masked utterances, findings with offsets, keywords, score breakdown, reviews."""
    conv = service.get_conversation(session, conversation_id=conversation_id)
    # Another agent's conversation answers as a missing one: its existence is not revealed, nor logged.
    ensure_visible(key, conversation_id=conv.id, agent_id=conv.agent_id)
    job_id = repository.job_id_for(session, conversation_id=conv.id)
    access_log.record_read(session, key=key, conversation_id=conv.id, kind=AccessKind.CONVERSATION)
    appeals = appeals_repository.for_conversation(session, conversation_id=conv.id)
    return presenters.to_read(conv, job_id=job_id, role=key.role, appeals=appeals)


@router.post(
    "/{conversation_id}/reanalyze",
    response_model=ConversationRead,
    responses=error_responses(401, 403, 404, 409, 422),
)
def reanalyze_conversation(
    conversation_id: uuid.UUID, session: DbSession, runtime: Runtime, key: Caller
) -> ConversationRead:
    """Audit the stored text again with the lexicons in force (after a failure or a lexicon change)."""
    conv = service.reanalyze(session, runtime=runtime, conversation_id=conversation_id)
    appeals = appeals_repository.for_conversation(session, conversation_id=conv.id)
    return presenters.to_read(conv, role=key.role, appeals=appeals)
