"""Review endpoints for supervisors."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.auth.dependencies import Caller
from app.conversations.service import get_conversation
from app.db import Conversation
from app.deps import DbSession
from app.errors import error_responses
from app.reviews import service
from app.reviews.schemas import ReviewCreate, ReviewRead, ReviewState

router = APIRouter(prefix="/v1/conversations", tags=["reviews"])


def _state(conv: Conversation) -> ReviewState:
    history = [
        ReviewRead(status=r.status, note=r.note, reviewer=r.reviewer, created_at=r.created_at)
        for r in conv.reviews
    ]
    return ReviewState(conversation_id=conv.id, review_status=conv.review_status, history=history)


@router.post(
    "/{conversation_id}/review",
    response_model=ReviewState,
    responses=error_responses(400, 401, 403, 404, 422),
)
def review_conversation(
    conversation_id: uuid.UUID, payload: ReviewCreate, session: DbSession, key: Caller
) -> ReviewState:
    """Mark a conversation `reviewed` or `dismissed` with a note; the history is kept."""
    conv = service.review_conversation(
        session, conversation_id=conversation_id, status=payload.status, note=payload.note, reviewer=key.name
    )
    return _state(conv)


@router.get(
    "/{conversation_id}/reviews", response_model=ReviewState, responses=error_responses(401, 403, 404, 422)
)
def list_reviews(conversation_id: uuid.UUID, session: DbSession, _key: Caller) -> ReviewState:
    """The review history of one conversation."""
    conv = get_conversation(session, conversation_id=conversation_id)
    return _state(conv)
