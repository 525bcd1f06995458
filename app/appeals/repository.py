"""Queries of appeals: one conversation's history, a filtered page newest first, the open one of a finding."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.appeals.enums import AppealStatus
from app.db import Appeal
from app.pagination import cursor_time, decode_cursor, encode_cursor


@dataclass(frozen=True, slots=True)
class AppealFilters:
    """Filters of the appeal list; None means 'any'."""

    status: AppealStatus | None = None
    agent_id: str | None = None


def for_conversation(session: Session, *, conversation_id: uuid.UUID) -> list[Appeal]:
    """Every appeal on one conversation, oldest first (the order things happened)."""
    return list(
        session.scalars(
            select(Appeal)
            .where(Appeal.conversation_id == conversation_id)
            .order_by(Appeal.created_at, Appeal.id)
        )
    )


def open_for_finding(session: Session, *, finding_id: uuid.UUID) -> Appeal | None:
    """The open appeal against a finding, if any."""
    return session.scalar(
        select(Appeal).where(Appeal.finding_id == finding_id, Appeal.status == AppealStatus.OPEN)
    )


def get_for_update(session: Session, *, appeal_id: uuid.UUID) -> Appeal | None:
    """One appeal, locked (PostgreSQL) so two supervisors deciding at once cannot both decide it."""
    return session.get(Appeal, appeal_id, with_for_update=True, populate_existing=True)


def _conditions(filters: AppealFilters) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if filters.status is not None:
        c.append(Appeal.status == filters.status)
    if filters.agent_id is not None:
        c.append(Appeal.agent_id == filters.agent_id)
    return c


def _position(values: list[Any]) -> tuple[datetime, uuid.UUID]:
    at, ident = values
    if not isinstance(ident, str):
        raise ValueError("bad id")
    return cursor_time(at), uuid.UUID(ident)


def search(
    session: Session, *, filters: AppealFilters, cursor: str | None, limit: int
) -> tuple[list[Appeal], str | None, int]:
    """One page of appeals, newest first; the next page's cursor and the total matching count."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(Appeal).where(*conditions)) or 0
    stmt = select(Appeal).where(*conditions)
    if cursor is not None:
        at, ident = decode_cursor(cursor, _position)
        stmt = stmt.where(or_(Appeal.created_at < at, and_(Appeal.created_at == at, Appeal.id < ident)))
    rows = list(session.scalars(stmt.order_by(Appeal.created_at.desc(), Appeal.id.desc()).limit(limit + 1)))
    next_cursor = (
        encode_cursor([rows[limit - 1].created_at.isoformat(), str(rows[limit - 1].id)])
        if len(rows) > limit
        else None
    )
    return rows[:limit], next_cursor, total
