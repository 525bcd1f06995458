"""Recording reads and answering who read what."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.access_log import repository
from app.access_log.enums import AccessKind
from app.access_log.repository import AccessLogFilters
from app.auth.principal import Principal
from app.db import AccessLogEntry


def record_read(session: Session, *, key: Principal, conversation_id: uuid.UUID, kind: AccessKind) -> None:
    """Log that `key` read a conversation or recording; in the request's transaction, so no read goes unlogged."""
    repository.add(
        session,
        entry=AccessLogEntry(
            api_key_id=key.id,
            api_key_name=key.name,
            role=key.role,
            conversation_id=conversation_id,
            kind=kind,
        ),
    )


def list_reads(
    session: Session, *, filters: AccessLogFilters, cursor: str | None, limit: int
) -> tuple[list[AccessLogEntry], str | None, int]:
    """A page of the log, newest first."""
    return repository.search(session, filters=filters, cursor=cursor, limit=limit)
