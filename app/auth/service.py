"""API-key creation and verification; keys are random, so a plain SHA-256 is enough to store them."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.policy import Role
from app.db import ApiKey
from app.db.base import utcnow
from app.errors import Conflict, NotFound, Unprocessable
from app.privacy import mask_free_text

ROLES: tuple[str, ...] = tuple(Role)
KEY_PREFIX = "qa_"


class LastAdminKey(Conflict):
    code = "last_admin_key"


def hash_key(key: str) -> str:
    """SHA-256 hex of a key (256-bit random keys need no slow password hash)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: str, agent_id: str | None = None) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored. `agent_id` binds (only) an agent key."""
    if role not in ROLES:
        raise Unprocessable(f"unknown role {role!r}; expected one of {', '.join(ROLES)}", code="invalid_role")
    check_agent_binding(role=role, agent_id=agent_id)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    # The name is shown as a review's `reviewer`: free text, masked like every other.
    row = ApiKey(
        name=mask_free_text(name), role=role, prefix=plain[:10], key_hash=hash_key(plain), agent_id=agent_id
    )
    session.add(row)
    session.flush()
    return row, plain


def check_agent_binding(*, role: str, agent_id: str | None) -> None:
    """An `agent` key or user must name its agent_id; any other role must not (it would mean nothing)."""
    if role == Role.AGENT and not (agent_id and agent_id.strip()):
        raise Unprocessable("role 'agent' needs an agent_id (the agent it may see)", code="agent_id_required")
    if role != Role.AGENT and agent_id is not None:
        raise Unprocessable("only role 'agent' is bound to an agent_id", code="agent_id_not_allowed")


def find_active_key(session: Session, *, plain: str) -> ApiKey | None:
    """The active key matching `plain`, if any."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def list_keys(session: Session) -> list[ApiKey]:
    """All keys, newest first (hashes are never returned to clients)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())))


def revoke_key(session: Session, *, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key; it stops working on the next request. The last active admin key cannot be revoked."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("API key not found")
    if row.revoked_at is None:
        if row.role == Role.ADMIN:
            # Rows locked (PostgreSQL): two admins revoking each other at once cannot both succeed.
            admins = session.scalars(
                select(ApiKey.id)
                .where(ApiKey.role == Role.ADMIN, ApiKey.revoked_at.is_(None))
                .with_for_update()
            ).all()
            if set(admins) <= {row.id}:
                raise LastAdminKey(
                    "this is the last active admin key; create another admin key before revoking it"
                )
        row.revoked_at = utcnow()
        session.flush()
    return row
