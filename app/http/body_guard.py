"""Authentication and size limits before a body is read: a key-less or oversize request costs no memory.

FastAPI reads (JSON) or spools (multipart) the whole body before any dependency runs, so the routes' own key
check comes too late to protect the server. This pre-filter answers 401 from the headers alone and counts
the bytes as they arrive; the routes' role checks still run as before.
"""

from __future__ import annotations

import time
from collections.abc import Collection

import anyio.to_thread
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.service import find_active_key, hash_key
from app.errors import database_unavailable_response, error_response, is_database_unavailable
from app.users.sessions import SESSION_COOKIE, session_is_open

_PROTECTED_PREFIX = "/v1/"
_CACHE_MAX = 4096
# After a refusal the rest of the body is not read: closing the connection spares both sides sending it.
_CLOSE = {"Connection": "close"}


class _BodyTooLarge(Exception):
    """Raised from `receive` once the streamed body passes its limit."""


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in {"", "0"}


def _key_is_active(factory: sessionmaker[Session], plain: str) -> bool:
    with factory() as session:
        return find_active_key(session, plain=plain) is not None


class BodyGuardMiddleware:
    """For requests with a body: 401 before reading it without an active key (/v1), 413 past the limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json_bytes: int,
        max_upload_bytes: int,
        upload_paths: Collection[str],
        key_cache_seconds: float,
        public_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_paths = frozenset(upload_paths)
        self.public_paths = frozenset(public_paths)
        self.key_cache_seconds = key_cache_seconds
        # Hashes of keys found active, with when that stops counting. Only a pre-filter relies on it: a key
        # revoked meanwhile still gets its 401 from the route's own check, after at most this body's limit.
        self._active_until: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        if path.startswith(_PROTECTED_PREFIX) and path not in self.public_paths:
            refusal = await self._authenticate(scope, headers.get("authorization"))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        limit = self._limit(path, headers)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        await self._run_counted(scope, receive, send, limit)

    def _limit(self, path: str, headers: Headers) -> int:
        content_type = headers.get("content-type", "").lower()
        if path in self.upload_paths and content_type.startswith("multipart/form-data"):
            return self.max_upload_bytes
        return self.max_json_bytes

    async def _authenticate(self, scope: Scope, authorization: str | None) -> Response | None:
        scheme, plain = get_authorization_scheme_param(authorization)
        if scheme.lower() != "bearer" or not plain:
            if await self._cookie_session_is_open(scope):
                return None  # a signed-in console user; the route checks the session and CSRF token again
            return error_response(
                401,
                "unauthorized",
                "missing API key: send `Authorization: Bearer <key>`",
                headers={**_CLOSE, "WWW-Authenticate": "Bearer"},
            )
        digest = hash_key(plain)
        now = time.monotonic()
        if self._active_until.get(digest, 0.0) > now:
            return None
        factory: sessionmaker[Session] = scope["app"].state.session_factory
        try:
            active = await anyio.to_thread.run_sync(_key_is_active, factory, plain)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            response = database_unavailable_response(exc)
            response.headers.update(_CLOSE)
            return response
        if not active:
            return error_response(
                401,
                "unauthorized",
                "invalid or revoked API key",
                headers={**_CLOSE, "WWW-Authenticate": "Bearer"},
            )
        if self.key_cache_seconds > 0:
            if len(self._active_until) >= _CACHE_MAX:
                self._active_until.clear()
            self._active_until[digest] = now + self.key_cache_seconds
        return None

    async def _cookie_session_is_open(self, scope: Scope) -> bool:
        token = Request(scope).cookies.get(SESSION_COOKIE)
        if not token:
            return False
        state = scope["app"].state
        try:
            return await anyio.to_thread.run_sync(
                session_is_open, state.session_factory, token, state.settings
            )
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            return False

    async def _run_counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def receive_counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def send_unless_exceeded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the app makes of the broken-off body (400, 500) is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_counted, send_unless_exceeded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> Response:
    return error_response(
        413,
        "payload_too_large",
        f"request body is larger than the {limit} bytes allowed here",
        details={"limit_bytes": limit},
        headers=_CLOSE,
    )
