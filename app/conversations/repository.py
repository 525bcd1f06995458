"""All conversation queries: load, insert, replace analysis; search (internals in app.conversations.search)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, insert, inspect, select, text
from sqlalchemy.orm import Session, make_transient_to_detached, selectinload

from app.conversations.enums import ConversationStatus
from app.conversations.search import (
    COUNT_CAP,
    POSTGRES_SEARCH_SETTINGS,
    Total,
    branches,
    conditions,
    dissatisfaction_page,
    page,
    probe_size,
)
from app.conversations.search import (
    ConversationFilters as ConversationFilters,  # re-exported: routers build it
)
from app.db import Conversation, Finding, Job, Keyword, Utterance
from app.pagination import cursor_time, decode_cursor, encode_cursor
from pipelines.types import Severity


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
    session: Session,
    *,
    filters: ConversationFilters,
    cursor: str | None,
    limit: int,
    count_cap: int = COUNT_CAP,
) -> tuple[list[Conversation], str | None, Total]:
    """Most severe first, then newest; keyset pagination over (severity, started_at, id); capped total."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for setting in POSTGRES_SEARCH_SETTINGS:  # this transaction only; why: at their definition
            session.execute(text(setting))
    where = conditions(filters, dialect=dialect)
    if filters.sort == "dissatisfaction":
        return _search_by_dissatisfaction(session, where, cursor=cursor, limit=limit, count_cap=count_cap)
    after = decode_cursor(cursor, _position) if cursor is not None else None
    rows, total = page(
        session,
        where,
        after=after,
        limit=limit + 1,
        count_cap=count_cap,
        min_level=filters.severity_min or 0,
        bitmap_probes=dialect == "postgresql" and filters.q is not None,
        alternatives=branches(filters, dialect=dialect),
        probe=probe_size(filters),
    )
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor, total


def _dissatisfaction_position(values: list[Any]) -> tuple[float, datetime, uuid.UUID]:
    tag, value, started, ident = values  # a severity-order cursor (3 values) is refused here
    if (
        tag != "d"
        or isinstance(value, bool)
        or not isinstance(value, int | float)
        or not isinstance(ident, str)
    ):
        raise ValueError("not a dissatisfaction cursor")
    return float(value), cursor_time(started), uuid.UUID(ident)


def _search_by_dissatisfaction(
    session: Session, where: list[Any], *, cursor: str | None, limit: int, count_cap: int
) -> tuple[list[Conversation], str | None, Total]:
    """Most dissatisfied first (the supervisor queue's `sort=dissatisfaction`), keyset over the index."""
    after = decode_cursor(cursor, _dissatisfaction_position) if cursor is not None else None
    rows, total = dissatisfaction_page(session, where, after=after, limit=limit + 1, count_cap=count_cap)
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = (
        encode_cursor(["d", last.dissatisfaction, last.started_at.isoformat(), str(last.id)])
        if last
        else None
    )
    return rows[:limit], next_cursor, total


RowT = TypeVar("RowT", Finding, Keyword, Utterance)


def new_rows(model: type[RowT], *, conversation_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[RowT]:
    """A conversation's child rows as objects not yet in the session, every column given (ids made here).

    Built without the mapped constructor: its per-attribute change events cost more than the INSERT
    (issue 14), and `insert_loaded` marks every value as loaded anyway. So no `@validates` hook runs: these
    tables have none (masking happened before).
    """
    manager = inspect(model).class_manager
    blank = dict.fromkeys(attr.key for attr in inspect(model).column_attrs)
    objs: list[RowT] = []
    for row in rows:
        obj = manager.new_instance()
        obj.__dict__.update({**blank, **row, "id": uuid.uuid4(), "conversation_id": conversation_id})
        objs.append(obj)
    return objs


def insert_loaded(session: Session, objs: Sequence[Finding | Keyword | Utterance]) -> None:
    """Insert `new_rows` objects in one executemany; they are then persistent, as if loaded by a SELECT.

    The ORM's unit of work, and even its bulk INSERT, spend most of a transcript's storage time on
    per-object bookkeeping; a Core INSERT of the table does not, and objects with every column set are
    readable and updatable without another query.
    """
    if not objs:
        return
    mapper = type(objs[0]).__mapper__
    table = mapper.local_table
    assert isinstance(table, Table)  # every mapped class here maps one table
    columns = [attr.key for attr in mapper.column_attrs]
    session.execute(insert(table), [{c: obj.__dict__[c] for c in columns} for obj in objs])
    for obj in objs:
        make_transient_to_detached(obj)
        session.add(obj)


def existing_external_ids(session: Session, *, external_ids: list[str]) -> set[str]:
    """Which of `external_ids` are stored already (one query for a whole batch)."""
    if not external_ids:
        return set()
    stmt = select(Conversation.external_id).where(Conversation.external_id.in_(external_ids))
    return set(session.scalars(stmt))
