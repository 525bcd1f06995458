"""Queries of rule versions and of the stored conversations a dry-run replays."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from app.conversations.enums import ConversationStatus
from app.db import Conversation, RuleVersion


def list_versions(session: Session) -> list[RuleVersion]:
    """Every stored version, newest first."""
    return list(session.scalars(select(RuleVersion).order_by(RuleVersion.version.desc())))


def active(session: Session) -> RuleVersion | None:
    """The stored version in force, if any (none: lexicons/rules.yaml)."""
    return session.scalar(select(RuleVersion).where(RuleVersion.active.is_(True)))


def active_id(session: Session) -> uuid.UUID | None:
    """Only the id of the version in force: what every process polls."""
    return session.scalar(select(RuleVersion.id).where(RuleVersion.active.is_(True)))


def next_number(session: Session) -> int:
    """The number the next stored version gets."""
    return int(session.scalar(select(func.max(RuleVersion.version))) or 0) + 1


def deactivate_all(session: Session) -> None:
    """No stored version active (the caller activates one in the same transaction)."""
    session.execute(
        update(RuleVersion)
        .where(RuleVersion.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )


def stored_conversations(
    session: Session, *, since: datetime | None, until: datetime | None, limit: int
) -> tuple[list[Conversation], bool]:
    """Analysed conversations started in [since, until), newest first, at most `limit`; True if there were more."""
    stmt = select(Conversation).where(Conversation.status == ConversationStatus.ANALYSED)
    if since is not None:
        stmt = stmt.where(Conversation.started_at >= since)
    if until is not None:
        stmt = stmt.where(Conversation.started_at < until)
    rows = list(
        session.scalars(
            stmt.options(selectinload(Conversation.utterances), selectinload(Conversation.findings))
            .order_by(Conversation.started_at.desc(), Conversation.id.desc())
            .limit(limit + 1)
        )
    )
    return rows[:limit], len(rows) > limit
