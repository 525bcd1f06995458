"""Our access log: method, route, status, duration. Never a query string, a body or free text from a path."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("app.access")
_DIGIT_RUN = re.compile(r"\d{4,}")  # a phone or ID number; /v1 stays readable


def route_path(scope: Scope) -> str:
    """The matched route's template (`/v1/conversations/{conversation_id}`), not what the client typed.

    A path outside every route is logged with its digits masked: a phone number in a mistyped URL must not
    reach the log either.
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return _DIGIT_RUN.sub(lambda m: "#" * len(m.group()), str(scope.get("path", "")))[:200]


class AccessLogMiddleware:
    """One INFO line per request on the `app.access` logger (uvicorn's own access log is switched off)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0  # 0: no response was sent (the client went away, or the app failed after starting)

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("%s %s %d %.1fms", scope["method"], route_path(scope), status, ms)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging, plus our `app.*` loggers at INFO on stderr; uvicorn's access logger stays silent."""
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"format": fmt}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            # It would log the full request line, query string included (`?q=13911112222`).
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "app": {"level": "INFO"},
        },
    }
