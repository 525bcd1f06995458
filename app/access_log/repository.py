"""Queries of the access log: append a read, page through reads newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.access_log.enums import AccessKind
from app.db import AccessLogEntry
from app.pagination import cursor_time, decode_cursor, encode_cursor


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


def _encode_cursor(row: AccessLogEntry) -> str:
    return encode_cursor([row.read_at.isoformat(), str(row.id)])


def _position(values: list[Any]) -> tuple[datetime, uuid.UUID]:
    at, ident = values
    if not isinstance(ident, str):
        raise ValueError("bad id")
    return cursor_time(at), uuid.UUID(ident)


def search(
    session: Session, *, filters: AccessLogFilters, cursor: str | None, limit: int
) -> tuple[list[AccessLogEntry], str | None, int]:
    """One page of reads, newest first; the next page's cursor and the total matching count."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(AccessLogEntry).where(*conditions)) or 0
    stmt = select(AccessLogEntry).where(*conditions)
    if cursor is not None:
        at, ident = decode_cursor(cursor, _position)
        stmt = stmt.where(
            or_(AccessLogEntry.read_at < at, and_(AccessLogEntry.read_at == at, AccessLogEntry.id < ident))
        )
    rows = list(
        session.scalars(
            stmt.order_by(AccessLogEntry.read_at.desc(), AccessLogEntry.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor, total
