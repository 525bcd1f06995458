"""Queries of the access log: append a read, page through reads newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.access_log.enums import AccessKind
from app.db import AccessLogEntry
from app.pagination import newest_first_page


@dataclass(frozen=True, slots=True)
class AccessLogFilters:
    """Filters of the access log; None means 'any'. `since` inclusive, `until` exclusive."""

    conversation_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    kind: AccessKind | None = None
    since: datetime | None = None
    until: datetime | None = None


def add(session: Session, *, entry: AccessLogEntry) -> AccessLogEntry:
    """Append one read (flushed: the request's transaction commits it before the response goes out)."""
    session.add(entry)
    session.flush()
    return entry


def _conditions(filters: AccessLogFilters) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if filters.conversation_id is not None:
        c.append(AccessLogEntry.conversation_id == filters.conversation_id)
    if filters.api_key_id is not None:
        c.append(AccessLogEntry.api_key_id == filters.api_key_id)
    if filters.kind is not None:
        c.append(AccessLogEntry.kind == filters.kind)
    if filters.since is not None:
        c.append(AccessLogEntry.read_at >= filters.since)
    if filters.until is not None:
        c.append(AccessLogEntry.read_at < filters.until)
    return c


def search(
    session: Session, *, filters: AccessLogFilters, cursor: str | None, limit: int
) -> tuple[list[AccessLogEntry], str | None, int]:
    """One page of reads, newest first; the next page's cursor and the total matching count."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(AccessLogEntry).where(*conditions)) or 0
    rows, next_cursor = newest_first_page(
        session,
        select(AccessLogEntry).where(*conditions),
        at=AccessLogEntry.read_at,
        ident=AccessLogEntry.id,
        cursor=cursor,
        limit=limit,
    )
    return rows, next_cursor, total
