"""Opaque keyset cursors shared by paged listings: base64 of a JSON list this API made; anything else is 400."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.errors import AppError

T = TypeVar("T")
MAX_CURSOR_CHARS = 256


class InvalidCursor(AppError):
    status_code = 400
    code = "invalid_cursor"


def encode_cursor(values: list[Any]) -> str:
    """The cursor of a keyset position (JSON-serialisable values)."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def decode_cursor(cursor: str, parse: Callable[[list[Any]], T]) -> T:
    """`parse` applied to the position in a cursor `encode_cursor` made; anything else is InvalidCursor.

    Every failure, whatever the cursor holds (deeply nested JSON raises RecursionError), is the client's.
    """
    try:
        if len(cursor) > MAX_CURSOR_CHARS:
            raise ValueError("too long")
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        if not isinstance(decoded, list):
            raise ValueError("not a list")
        return parse(decoded)
    except Exception as exc:
        raise InvalidCursor("cursor is not one this API returned") from exc


def cursor_time(value: Any) -> datetime:
    """A time written by `encode_cursor` (aware ISO 8601), in UTC; ValueError for anything else."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    at = datetime.fromisoformat(value)
    # Stored times are UTC in years the API accepts; a zone-less or far-out time cannot come from us.
    if at.utcoffset() is None or not 1 < at.year < 9999:
        raise ValueError("bad time")
    return at.astimezone(UTC)


def time_id_position(values: list[Any]) -> tuple[datetime, uuid.UUID]:
    """The position in a newest-first listing's cursor: (time, id); ValueError for anything else."""
    at, ident = values
    if not isinstance(ident, str):
        raise ValueError("bad id")
    return cursor_time(at), uuid.UUID(ident)


def newest_first_page(
    session: Session,
    stmt: Select[Any],
    *,
    at: InstrumentedAttribute[datetime],
    ident: InstrumentedAttribute[uuid.UUID],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One page of `stmt`'s rows, newest `at` first (ties by `ident`), after `cursor`; and the next cursor."""
    if cursor is not None:
        after_at, after_id = decode_cursor(cursor, time_id_position)
        stmt = stmt.where(or_(at < after_at, and_(at == after_at, ident < after_id)))
    rows = list(session.scalars(stmt.order_by(at.desc(), ident.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor([getattr(last, at.key).isoformat(), str(getattr(last, ident.key))])
