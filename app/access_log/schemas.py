"""API models of the access log."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.access_log.enums import AccessKind
from app.auth.policy import Role
from app.schemas_common import DATETIME_RULE, LocalDatetime


class AccessLogRead(BaseModel):
    """One read: who (key id, name, role), when, what."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    read_at: datetime
    api_key_id: uuid.UUID
    api_key_name: str
    role: Role
    conversation_id: uuid.UUID
    kind: AccessKind


class AccessLogQuery(BaseModel):
    """Query of `GET /v1/admin/access-log`: every filter optional, newest reads first."""

    model_config = ConfigDict(extra="forbid")

    conversation_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    kind: AccessKind | None = None
    since: LocalDatetime | None = Field(default=None, description="read at or after; " + DATETIME_RULE)
    until: LocalDatetime | None = Field(default=None, description="read before; " + DATETIME_RULE)
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page, as returned")
    limit: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _ordered(self) -> AccessLogQuery:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self
