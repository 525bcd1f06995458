"""What part of the data a caller may see: an `agent` sees only its own agent_id's conversations.

The role matrix (app.auth.policy) says which routes a role may call; this says which rows. Routes apply it
after loading a row, so another agent's conversation answers exactly like one that does not exist.
"""

from __future__ import annotations

import uuid

from app.auth.policy import Role
from app.auth.principal import Principal
from app.errors import Forbidden, NotFound


def agent_scope(caller: Principal) -> str | None:
    """The one agent_id the caller is limited to, or None when it may see every agent's work."""
    if caller.role != Role.AGENT:
        return None
    if not caller.agent_id:
        # An agent principal without its agent would otherwise see everything: refuse (fail closed).
        raise Forbidden("this agent key is bound to no agent_id", code="agent_unbound")
    return caller.agent_id


def ensure_visible(caller: Principal, *, conversation_id: uuid.UUID, agent_id: str) -> None:
    """NotFound, worded as for a missing conversation, when the caller may not see this agent's work."""
    scope = agent_scope(caller)
    if scope is not None and scope != agent_id:
        raise NotFound(f"conversation {conversation_id} not found")
