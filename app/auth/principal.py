"""Who is calling: an API key (machine clients) or a signed-in user (the console), seen the same way by routes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from app.auth.policy import Role


class PrincipalKind(StrEnum):
    KEY = "key"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a route acts for. `agent_id` binds the `agent` role to the one agent whose work it may see."""

    id: uuid.UUID
    kind: PrincipalKind
    name: str
    role: Role
    agent_id: str | None = None
