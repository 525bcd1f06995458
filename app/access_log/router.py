"""Admin endpoint of the access log: who read which conversation or recording, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.access_log import service
from app.access_log.repository import AccessLogFilters
from app.access_log.schemas import AccessLogQuery, AccessLogRead
from app.auth.dependencies import Caller
from app.deps import DbSession
from app.errors import error_responses
from app.schemas_common import Page

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/access-log", response_model=Page[AccessLogRead], responses=error_responses(400, 401, 403, 422))
def list_access_log(
    query: Annotated[AccessLogQuery, Query()], session: DbSession, _key: Caller
) -> Page[AccessLogRead]:
    """Reads of full conversations and recordings, newest first: who (key, role), when, what.

    `conversation_id` answers "who listened to this call"; `since`/`until` bound the time of the read.
    """
    filters = AccessLogFilters(
        conversation_id=query.conversation_id,
        api_key_id=query.api_key_id,
        kind=query.kind,
        since=query.since,
        until=query.until,
    )
    rows, next_cursor, total = service.list_reads(
        session, filters=filters, cursor=query.cursor, limit=query.limit
    )
    return Page[AccessLogRead](
        items=[AccessLogRead.model_validate(r) for r in rows], next_cursor=next_cursor, total=total
    )
