"""Mark a conversation reviewed or dismissed; every decision is appended to its history."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.conversations.service import get_conversation
from app.db import Conversation, Review
from app.privacy import mask_optional


def review_conversation(
    session: Session, *, conversation_id: uuid.UUID, status: str, note: str | None, reviewer: str
) -> Conversation:
    """Record a supervisor's decision (a later decision supersedes, the history keeps both)."""
    conv = get_conversation(session, conversation_id=conversation_id)
    # A note is typed by a person and may quote the customer's number: stored masked, like transcripts.
    conv.reviews.append(Review(status=status, note=mask_optional(note), reviewer=reviewer))
    conv.review_status = status
    session.flush()
    return conv
