"""API models for appeals (申诉)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.appeals.enums import AppealDecision, AppealStatus
from app.schemas_common import SafeStr, SafeText

MAX_REASON_CHARS = 2000


class AppealCreate(BaseModel):
    """An agent contests one finding of a conversation, saying why."""

    model_config = ConfigDict(extra="forbid")

    finding_id: uuid.UUID = Field(description="a finding's `id` from the conversation")
    reason: SafeText = Field(min_length=1, max_length=MAX_REASON_CHARS)


class AppealDecisionCreate(BaseModel):
    """A supervisor's decision on an open appeal."""

    model_config = ConfigDict(extra="forbid")

    decision: AppealDecision
    note: SafeText | None = Field(default=None, max_length=MAX_REASON_CHARS)


class ContestedFinding(BaseModel):
    """The finding as it was when the appeal was filed."""

    kind: str
    category: str
    term: str | None
    rule: str
    severity: int
    utterance_index: int | None
    start: int | None
    end: int | None


class AppealRead(BaseModel):
    """One appeal and its decision: who filed it and why, who decided, when and why."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    conversation_id: uuid.UUID
    finding_id: uuid.UUID | None = Field(description="null when a re-analysis no longer finds it")
    agent_id: str
    reason: str
    status: AppealStatus
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    finding: ContestedFinding | None = Field(default=None, validation_alias="finding_snapshot")


class ConversationScore(BaseModel):
    """A conversation's score, severity and flag after a decision."""

    id: uuid.UUID
    score: float | None
    severity: str
    flagged: bool


class AppealDecided(BaseModel):
    appeal: AppealRead
    conversation: ConversationScore


class AppealQuery(BaseModel):
    """Query of `GET /v1/appeals`; an agent's is always limited to its own agent_id."""

    model_config = ConfigDict(extra="forbid")

    status: AppealStatus | None = None
    agent_id: SafeStr | None = Field(default=None, max_length=100)
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page, as returned")
    limit: int = Field(default=50, ge=1, le=200)
