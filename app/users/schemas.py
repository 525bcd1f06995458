"""API models of signing in."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.schemas_common import SafeStr
from app.users.passwords import MAX_PASSWORD_CHARS


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: SafeStr = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class Me(BaseModel):
    """Who is signed in (or which key is calling), and what the console needs to act for them."""

    id: uuid.UUID
    kind: str
    name: str
    role: str
    agent_id: str | None
    # Send back in `X-CSRF-Token` on every write made with the session cookie (null for API keys).
    csrf_token: str | None
    expires_at: datetime | None
    timezone: str


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    role: str
    agent_id: str | None
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None
    disabled_at: datetime | None
