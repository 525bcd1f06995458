"""API models for reviews."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from app.conversations.schemas import ReviewCreate, ReviewRead

__all__ = ["ReviewCreate", "ReviewRead", "ReviewState"]


class ReviewState(BaseModel):
    conversation_id: uuid.UUID
    review_status: str
    history: list[ReviewRead]
