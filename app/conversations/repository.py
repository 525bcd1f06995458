"""All conversation queries: load, insert, replace analysis, search with keyset pagination."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from app.conversations.enums import ConversationStatus
from app.db import Conversation, Finding, Job, Keyword, Utterance
from app.pagination import cursor_time, decode_cursor, encode_cursor
from pipelines.types import Severity


@dataclass(frozen=True, slots=True)
class ConversationFilters:
    """Search filters; None means 'any'."""

    flagged: bool | None = None
    review_status: str | None = None
    status: str | None = None
    severity_min: int | None = None
    keyword: str | None = None
    q: str | None = None
    category: str | None = None
    kind: str | None = None
    term: str | None = None
    agent_id: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    score_min: float | None = None
    score_max: float | None = None
    emotion: str | None = None
    speaker: str | None = None
    min_confidence: float | None = None
    trajectory: str | None = None


def get(session: Session, *, conversation_id: uuid.UUID) -> Conversation | None:
    """One conversation with everything a reviewer sees."""
    stmt = (
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .options(
            selectinload(Conversation.utterances),
            selectinload(Conversation.findings),
            selectinload(Conversation.keywords),
            selectinload(Conversation.reviews),
        )
    )
    return session.scalar(stmt)


def get_by_external_id(session: Session, *, external_id: str) -> Conversation | None:
    """The conversation posted under `external_id`, if any."""
    return session.scalar(select(Conversation).where(Conversation.external_id == external_id))


def job_id_for(session: Session, *, conversation_id: uuid.UUID) -> uuid.UUID | None:
    """The transcription job of an audio conversation."""
    return session.scalar(select(Job.id).where(Job.conversation_id == conversation_id))


def received_ids(session: Session, *, updated_before: datetime | None = None) -> list[uuid.UUID]:
    """Conversations stored but never audited (oldest first), e.g. left by a process that was killed."""
    stmt = select(Conversation.id).where(Conversation.status == ConversationStatus.RECEIVED)
    if updated_before is not None:
        stmt = stmt.where(Conversation.updated_at < updated_before)
    return list(session.scalars(stmt.order_by(Conversation.created_at)))


def _conditions(f: ConversationFilters) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    C = Conversation
    if f.flagged is not None:
        c.append(C.flagged.is_(f.flagged))
    if f.review_status is not None:
        c.append(C.review_status == f.review_status)
    if f.status is not None:
        c.append(C.status == f.status)
    if f.severity_min is not None:
        c.append(C.severity >= f.severity_min)
    if f.agent_id is not None:
        c.append(C.agent_id == f.agent_id)
    if f.channel is not None:
        c.append(C.channel == f.channel)
    if f.since is not None:
        c.append(C.started_at >= f.since)
    if f.until is not None:
        c.append(C.started_at < f.until)
    if f.score_min is not None:
        c.append(C.score >= f.score_min)
    if f.score_max is not None:
        c.append(C.score <= f.score_max)
    if f.trajectory is not None:
        c.append(C.emotion_trajectory == f.trajectory)
    if f.keyword is not None:
        c.append(exists().where(Keyword.conversation_id == C.id, Keyword.term == f.keyword))
    if f.q is not None:
        # Substring search over stored (masked) text; LIKE wildcards in the query are taken literally.
        pattern = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        c.append(exists().where(Utterance.conversation_id == C.id, Utterance.text.like(pattern, escape="\\")))
    if f.category is not None or f.kind is not None or f.term is not None:
        fc: list[ColumnElement[bool]] = [Finding.conversation_id == C.id]
        if f.category is not None:
            fc.append(Finding.category == f.category)
        if f.kind is not None:
            fc.append(Finding.kind == f.kind)
        if f.term is not None:
            fc.append(Finding.term == f.term)
        if f.severity_min is not None:
            fc.append(Finding.severity >= f.severity_min)
        c.append(exists().where(*fc))
    if f.emotion is not None or f.min_confidence is not None:
        uc: list[ColumnElement[bool]] = [Utterance.conversation_id == C.id]
        if f.emotion is not None:
            uc.append(Utterance.emotion == f.emotion)
        else:
            uc.append(Utterance.emotion.is_not(None))
        if f.speaker is not None:
            uc.append(Utterance.speaker == f.speaker)
        if f.min_confidence is not None:
            uc.append(Utterance.emotion_confidence >= f.min_confidence)
        c.append(exists().where(*uc))
    return c


def _encode_cursor(row: Conversation) -> str:
    return encode_cursor([row.severity, row.started_at.isoformat(), str(row.id)])


def _position(values: list[Any]) -> tuple[int, datetime, uuid.UUID]:
    severity, started, ident = values
    if type(severity) is not int or not 0 <= severity <= max(Severity):
        raise ValueError("bad severity")
    if not isinstance(ident, str):
        raise ValueError("bad id")
    return severity, cursor_time(started), uuid.UUID(ident)


def search(
    session: Session, *, filters: ConversationFilters, cursor: str | None, limit: int
) -> tuple[list[Conversation], str | None, int]:
    """Most severe first, then newest; keyset pagination over (severity, started_at, id)."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(Conversation).where(*conditions)) or 0
    stmt: Select[Conversation] = select(Conversation).where(*conditions)
    if cursor is not None:
        sev, started, ident = decode_cursor(cursor, _position)
        C = Conversation
        stmt = stmt.where(
            or_(
                C.severity < sev,
                and_(C.severity == sev, C.started_at < started),
                and_(C.severity == sev, C.started_at == started, C.id < ident),
            )
        )
    stmt = stmt.order_by(
        Conversation.severity.desc(), Conversation.started_at.desc(), Conversation.id.desc()
    ).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor, total
