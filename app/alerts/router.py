"""Alert endpoints: the list (unacknowledged first), one alert with its delivery log, acknowledge, live count."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from app.alerts import service, stream
from app.alerts.repository import AlertFilters
from app.alerts.schemas import AlertDetail, AlertQuery, AlertRead, AlertSummary
from app.auth.dependencies import Caller
from app.db import Alert
from app.deps import AppSettings, DbSession
from app.errors import Unprocessable, error_responses
from app.schemas_common import Page
from pipelines.types import Severity

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

_STREAM_DOC = {
    200: {
        "description": (
            "`text/event-stream`. `event: summary` with the AlertSummary JSON on connect and on every change "
            "of the count; `event: alert` (`id:` the alert id) with the AlertRead JSON of each new alert. "
            "Ends after AUDIT_ALERT_STREAM_SECONDS with `retry:` so EventSource reconnects; send "
            "`Last-Event-ID` to resume after an alert. Without `Accept: text/event-stream` (as EventSource sends) "
            "the response carries only the first events and ends."
        ),
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "one event; `data` is JSON: AlertSummary (summary) or AlertRead (alert)",
                    "required": ["event", "data"],
                    "properties": {
                        "event": {"type": "string", "enum": ["summary", "alert"]},
                        "data": {"type": "string"},
                        "id": {"type": "string", "description": "the alert's id (alert events)"},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    },
    **error_responses(401, 403, 422, 503),
}


def single_valued_query(request: Request) -> None:
    """Refuse a filter given twice (`?severity=major&severity=general`): which one was meant is unknown."""
    names = [name for name, _ in request.query_params.multi_items()]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise Unprocessable(
            f"query parameters given more than once: {', '.join(repeated)}",
            code="validation_error",
            details=[{"loc": ["query", n], "msg": "given more than once"} for n in repeated],
        )


def valid_alert(alert_id: uuid.UUID, session: DbSession, _key: Caller) -> Alert:
    """The alert of the path, or 404 `alert_not_found` (for a caller the route admits: no key, no answer)."""
    return service.get_alert(session, alert_id=alert_id, with_deliveries=True)


@router.get(
    "",
    response_model=Page[AlertRead],
    responses=error_responses(400, 401, 403, 422),
    dependencies=[Depends(single_valued_query)],
)
def list_alerts(query: Annotated[AlertQuery, Query()], session: DbSession, _key: Caller) -> Page[AlertRead]:
    """Alerts, unacknowledged first, then newest; filter by `acknowledged`, `severity`, `rule`, `since`, `until`."""
    filters = AlertFilters(
        acknowledged=query.acknowledged,
        severity=int(Severity[query.severity.upper()]) if query.severity else None,
        rule=query.rule,
        since=query.since,
        until=query.until,
    )
    rows, next_cursor, total = service.list_alerts(
        session, filters=filters, cursor=query.cursor, limit=query.limit
    )
    return Page[AlertRead](
        items=[AlertRead.model_validate(r) for r in rows], next_cursor=next_cursor, total=total
    )


@router.get("/summary", response_model=AlertSummary, responses=error_responses(401, 403))
def get_alerts_summary(session: DbSession, _key: Caller) -> AlertSummary:
    """The console header's count: `{"unacknowledged": n, "unacknowledged_by_severity": {…}, "latest_id", …}`.

    Cheap (one grouped count): poll it every few seconds, or follow `GET /v1/alerts/stream`.
    """
    return service.summary(session)


@router.get("/stream", response_class=StreamingResponse, responses=_STREAM_DOC)
def stream_alerts(
    request: Request,
    settings: AppSettings,
    _key: Caller,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """Live feed of new alerts and of the unacknowledged count (server-sent events)."""
    factory = request.app.state.session_factory
    slots = request.app.state.alerts.stream_slots
    after = stream.start_position(factory, last_event_id)
    # A client that does not ask for an event stream (curl, a health probe) gets the first events and the end.
    live = "text/event-stream" in request.headers.get("accept", "")
    slots.take()
    return StreamingResponse(
        stream.events(factory, settings=settings, slots=slots, after=after, once=not live),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/{alert_id}", response_model=AlertDetail, responses=error_responses(401, 403, 404, 422))
def get_alert(alert: Annotated[Alert, Depends(valid_alert)], _key: Caller) -> AlertDetail:
    """One alert with its delivery log: per target, every attempt's time, status code or error, duration."""
    return AlertDetail.model_validate(alert)


@router.post("/{alert_id}/ack", response_model=AlertRead, responses=error_responses(401, 403, 404, 422))
def acknowledge_alert(alert_id: uuid.UUID, session: DbSession, key: Caller) -> AlertRead:
    """Acknowledge an alert: who and when are recorded; acknowledging it again keeps the first record."""
    alert = service.get_alert(session, alert_id=alert_id, for_update=True)
    return AlertRead.model_validate(service.acknowledge(session, alert=alert, by=key))
