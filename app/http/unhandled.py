"""The last line of defence: any exception the app did not turn into a response becomes our 500 (or 503)."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import database_unavailable_response, internal_error_response, is_database_unavailable
from app.http.access_log import route_path

log = logging.getLogger(__name__)


class UnhandledErrorMiddleware:
    """Answers `{"error": {"code": "internal_error"}}` with 500 and logs the traceback server side only.

    Starlette's own last resort answers plain text and re-raises; this one sits inside it, so every answer
    keeps the one error format and the security headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            if is_database_unavailable(exc):
                response = database_unavailable_response(exc)
            else:
                log.exception("unhandled %s in %s %s", type(exc).__name__, scope["method"], route_path(scope))
                response = internal_error_response()
            if started:
                return  # too late to answer; the server closes the connection on the half-sent response
            await response(scope, receive, send)
