"""API models for admin endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.policy import Role
from app.schemas_common import SafeStr


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeStr = Field(min_length=1, max_length=100)
    role: Role
    agent_id: SafeStr | None = Field(
        default=None, min_length=1, max_length=100, description="required for, and only for, role `agent`"
    )


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str
    role: Role
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    agent_id: str | None = None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="shown once; only its hash is stored")


class LexiconReloaded(BaseModel):
    lexicon_version: str
