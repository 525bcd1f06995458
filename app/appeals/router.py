"""Appeal endpoints: an agent contests a finding; a supervisor upholds or overturns it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.appeals import service
from app.appeals.repository import AppealFilters
from app.appeals.schemas import (
    AppealCreate,
    AppealDecided,
    AppealDecisionCreate,
    AppealQuery,
    AppealRead,
    ConversationScore,
)
from app.auth.dependencies import Caller
from app.deps import DbSession, Runtime
from app.errors import error_responses
from app.schemas_common import Page
from pipelines.types import Severity

router = APIRouter(tags=["appeals"])


@router.post(
    "/v1/conversations/{conversation_id}/appeals",
    response_model=AppealRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def create_appeal(
    conversation_id: uuid.UUID, payload: AppealCreate, session: DbSession, key: Caller
) -> AppealRead:
    """Contest one finding (申诉) with a reason; one open appeal per finding (409 `appeal_open`).

    An agent may contest only its own conversations' findings (another's answers 404); a supervisor may
    file one for an agent. The reason is stored masked, like every free text.
    """
    appeal = service.file_appeal(
        session,
        caller=key,
        conversation_id=conversation_id,
        finding_id=payload.finding_id,
        reason=payload.reason,
    )
    return AppealRead.model_validate(appeal)


@router.get(
    "/v1/conversations/{conversation_id}/appeals",
    response_model=list[AppealRead],
    responses=error_responses(401, 403, 404, 422),
)
def list_conversation_appeals(
    conversation_id: uuid.UUID, session: DbSession, key: Caller
) -> list[AppealRead]:
    """The appeals of one conversation, oldest first, with their decisions (who, when, why)."""
    rows = service.conversation_appeals(session, caller=key, conversation_id=conversation_id)
    return [AppealRead.model_validate(a) for a in rows]


@router.get("/v1/appeals", response_model=Page[AppealRead], responses=error_responses(400, 401, 403, 422))
def list_appeals(query: Annotated[AppealQuery, Query()], session: DbSession, key: Caller) -> Page[AppealRead]:
    """Appeals newest first, by `status` and `agent_id`; an agent sees only its own, whatever it asks."""
    rows, next_cursor, total = service.list_appeals(
        session,
        caller=key,
        filters=AppealFilters(status=query.status, agent_id=query.agent_id),
        cursor=query.cursor,
        limit=query.limit,
    )
    return Page[AppealRead](
        items=[AppealRead.model_validate(a) for a in rows], next_cursor=next_cursor, total=total
    )


@router.post(
    "/v1/appeals/{appeal_id}/decision",
    response_model=AppealDecided,
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def decide_appeal(
    appeal_id: uuid.UUID, payload: AppealDecisionCreate, session: DbSession, runtime: Runtime, key: Caller
) -> AppealDecided:
    """Uphold or overturn an open appeal (409 `appeal_decided` if it was decided already).

    Overturning keeps the finding on record with `overturned_at` and re-scores the conversation (score,
    severity, flagged) from the findings that still count, with the rules in force, in one transaction.
    """
    appeal, conv = service.decide(
        session,
        caller=key,
        appeal_id=appeal_id,
        decision=payload.decision,
        note=payload.note,
        scorer=runtime.pipeline.stages.scorer,
    )
    return AppealDecided(
        appeal=AppealRead.model_validate(appeal),
        conversation=ConversationScore(
            id=conv.id, score=conv.score, severity=Severity(conv.severity).label, flagged=conv.flagged
        ),
    )
