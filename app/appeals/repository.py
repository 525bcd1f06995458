"""Queries of appeals: one conversation's history, a filtered page newest first, the open one of a finding."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.appeals.enums import AppealStatus
from app.db import Appeal
from app.pagination import newest_first_page


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


def search(
    session: Session, *, filters: AppealFilters, cursor: str | None, limit: int
) -> tuple[list[Appeal], str | None, int]:
    """One page of appeals, newest first; the next page's cursor and the total matching count."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(Appeal).where(*conditions)) or 0
    rows, next_cursor = newest_first_page(
        session,
        select(Appeal).where(*conditions),
        at=Appeal.created_at,
        ident=Appeal.id,
        cursor=cursor,
        limit=limit,
    )
    return rows, next_cursor, total
