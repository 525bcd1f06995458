"""The console's live feed (server-sent events): new alerts as they are raised, and the unacknowledged count.

Events: `summary` (data: the AlertSummary JSON) on connect and whenever the count changes; `alert` (id: the
alert's id, data: the AlertRead JSON) for each alert raised after the connection opened (or after the alert
named by `Last-Event-ID`, so a reconnecting EventSource misses none). A stream ends after
AUDIT_ALERT_STREAM_SECONDS and asks the browser to reconnect (`retry:`): an open stream holds one of the
service's request slots, so streams are also capped at AUDIT_ALERT_MAX_STREAMS at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import anyio
from sqlalchemy.orm import Session, sessionmaker

from app.alerts import repository, service
from app.alerts.schemas import AlertRead
from app.alerts.slots import StreamSlots
from app.db.base import utcnow
from app.db.session import session_scope
from app.settings import Settings

POLL_SECONDS = 1.0
RECONNECT_MS = 3000
KEEPALIVE_SECONDS = 15.0


def start_position(factory: sessionmaker[Session], last_event_id: str | None) -> datetime:
    """Alerts after this time are sent: the one named by Last-Event-ID, else now."""
    if last_event_id:
        try:
            ident = uuid.UUID(last_event_id)
        except ValueError:
            ident = None
        if ident is not None:
            with session_scope(factory, read_only=True) as s:
                alert = repository.get(s, alert_id=ident)
                if alert is not None:
                    return alert.created_at
    return utcnow()


def _poll(factory: sessionmaker[Session], after: datetime) -> tuple[list[tuple[str, str]], datetime, str]:
    """(new alerts as (id, JSON), the position after them, the summary JSON): one short read."""
    with session_scope(factory, read_only=True) as s:
        rows = repository.raised_after(s, at=after)
        new = [(str(a.id), AlertRead.model_validate(a).model_dump_json()) for a in rows]
        position = rows[-1].created_at if rows else after
        summary = service.summary(s).model_dump_json()
    return new, position, summary


async def events(
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    slots: StreamSlots,
    after: datetime,
    once: bool = False,
) -> AsyncIterator[str]:
    """The event stream; gives its slot back however it ends (timeout, client gone, server stopping)."""
    try:
        yield f"retry: {RECONNECT_MS}\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.alert_stream_seconds
        last_summary, last_sent = None, loop.time()
        while loop.time() < deadline:
            new, after, summary = await anyio.to_thread.run_sync(_poll, factory, after)
            for ident, data in new:
                yield f"id: {ident}\nevent: alert\ndata: {data}\n\n"
            if summary != last_summary:
                yield f"event: summary\ndata: {summary}\n\n"
                last_summary, last_sent = summary, loop.time()
            elif new:
                last_sent = loop.time()
            elif loop.time() - last_sent >= KEEPALIVE_SECONDS:  # proxies close silent connections
                yield ": keep-alive\n\n"
                last_sent = loop.time()
            if once:
                break
            await asyncio.sleep(POLL_SECONDS)
    finally:
        slots.give_back()
