"""Queries of alerts and their deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement

from app.alerts.enums import DeliveryStatus
from app.db import Alert, AlertDelivery
from app.pagination import cursor_time, decode_cursor, encode_cursor


@dataclass(frozen=True, slots=True)
class AlertFilters:
    """Filters of the alert listing; None means 'any'. `since` inclusive, `until` exclusive (raised time)."""

    acknowledged: bool | None = None
    severity: int | None = None
    rule: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _conditions(filters: AlertFilters) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if filters.acknowledged is not None:
        c.append(Alert.acknowledged.is_(filters.acknowledged))
    if filters.severity is not None:
        c.append(Alert.severity == filters.severity)
    if filters.rule is not None:
        c.append(Alert.rule == filters.rule)
    if filters.since is not None:
        c.append(Alert.created_at >= filters.since)
    if filters.until is not None:
        c.append(Alert.created_at < filters.until)
    return c


def _position(values: list[Any]) -> tuple[bool, datetime, uuid.UUID]:
    acked, at, ident = values
    if not isinstance(acked, bool) or not isinstance(ident, str):
        raise ValueError("bad position")
    return acked, cursor_time(at), uuid.UUID(ident)


def search(
    session: Session, *, filters: AlertFilters, cursor: str | None, limit: int
) -> tuple[list[Alert], str | None, int]:
    """One page: unacknowledged first, then newest (then id); the next page's cursor and the total count."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(Alert).where(*conditions)) or 0
    stmt = select(Alert).where(*conditions)
    if cursor is not None:
        acked, at, ident = decode_cursor(cursor, _position)
        later = or_(Alert.created_at < at, and_(Alert.created_at == at, Alert.id < ident))
        same = and_(Alert.acknowledged.is_(acked), later)
        # Unacknowledged sort first: after an unacknowledged position come all acknowledged alerts.
        stmt = stmt.where(same if acked else or_(Alert.acknowledged.is_(True), same))
    order = (Alert.acknowledged.asc(), Alert.created_at.desc(), Alert.id.desc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last.acknowledged, last.created_at.isoformat(), str(last.id)])
    return rows[:limit], next_cursor, total


def get(
    session: Session, *, alert_id: uuid.UUID, with_deliveries: bool = False, for_update: bool = False
) -> Alert | None:
    """One alert (and its deliveries when asked; locked for an acknowledgement when asked)."""
    stmt = select(Alert).where(Alert.id == alert_id)
    if for_update:
        stmt = stmt.with_for_update()
    if with_deliveries:
        stmt = stmt.options(selectinload(Alert.deliveries))
    return session.scalars(stmt).first()


def unacknowledged_by_severity(session: Session) -> dict[int, int]:
    """Unacknowledged alerts per severity (one grouped count)."""
    rows = session.execute(
        select(Alert.severity, func.count()).where(Alert.acknowledged.is_(False)).group_by(Alert.severity)
    )
    return {int(sev): int(n) for sev, n in rows}


def latest(session: Session) -> Alert | None:
    """The newest alert."""
    return session.scalars(select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc()).limit(1)).first()


def raised_after(session: Session, *, at: datetime, limit: int = 100) -> list[Alert]:
    """Alerts raised after `at`, oldest first (the live feed)."""
    stmt = select(Alert).where(Alert.created_at > at).order_by(Alert.created_at, Alert.id).limit(limit)
    return list(session.scalars(stmt))


def due_deliveries(
    session: Session, *, now: datetime, targets: Collection[str], limit: int
) -> list[AlertDelivery]:
    """Pending deliveries to `targets` due by `now`, locked for this transaction (others skip them on PostgreSQL).

    Only targets this process knows: a process configured without a target leaves its deliveries alone.
    """
    if not targets:
        return []
    stmt = (
        select(AlertDelivery)
        .where(
            AlertDelivery.status == DeliveryStatus.PENDING,
            AlertDelivery.next_attempt_at <= now,
            AlertDelivery.target.in_(sorted(targets)),
        )
        .order_by(AlertDelivery.next_attempt_at)
        .limit(limit)
        .options(selectinload(AlertDelivery.alert))
        .with_for_update(skip_locked=True, of=AlertDelivery)
    )
    return list(session.scalars(stmt))


def next_due(session: Session, *, targets: Collection[str]) -> datetime | None:
    """When the earliest pending delivery to one of `targets` is due."""
    if not targets:
        return None
    return session.scalar(
        select(func.min(AlertDelivery.next_attempt_at)).where(
            AlertDelivery.status == DeliveryStatus.PENDING, AlertDelivery.target.in_(sorted(targets))
        )
    )
