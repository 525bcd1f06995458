"""Security headers on every response, whatever produced it (a route, an error handler, a middleware)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_API_PREFIX = "/v1/"
# JSON needs no sources at all; the console sets its own, fuller policy on its page.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_OTHER_CSP = "frame-ancestors 'none'"  # /docs loads Swagger UI from a CDN: only framing is refused there


class SecurityHeadersMiddleware:
    """nosniff and no framing everywhere; `Cache-Control: no-store` on the API, which carries conversations."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = str(scope["path"]).startswith(_API_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = _API_CSP if is_api else _OTHER_CSP
                if is_api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
