"""HTTP middleware, all pure ASGI (nothing buffers a body): access log, security headers, catch-all, body guard."""

from __future__ import annotations

from fastapi import FastAPI

from app.http.access_log import AccessLogMiddleware
from app.http.admission import AdmissionMiddleware
from app.http.body_guard import BodyGuardMiddleware
from app.http.headers import SecurityHeadersMiddleware
from app.http.unhandled import UnhandledErrorMiddleware
from app.settings import Settings

# Routes that take a multipart recording; every other body is held to the JSON limit.
UPLOAD_PATHS = frozenset({"/v1/conversations/audio"})
# Writes with a body that need no key: signing in to the console (its own limits: argon2, lock-out).
PUBLIC_WRITE_PATHS = frozenset({"/v1/auth/login"})


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Wrap the app, outermost first: access log, security headers, catch-all 500, body guard, admission."""
    # add_middleware puts each new one outside the previous ones, so this list is innermost first.
    app.add_middleware(
        AdmissionMiddleware,
        max_requests=settings.max_concurrent_requests,
        max_writes=settings.max_concurrent_writes,
    )
    app.add_middleware(
        BodyGuardMiddleware,
        max_json_bytes=settings.max_json_bytes,
        max_upload_bytes=settings.max_audio_bytes + settings.max_form_overhead_bytes,
        upload_paths=UPLOAD_PATHS,
        key_cache_seconds=settings.auth_cache_seconds,
        public_paths=PUBLIC_WRITE_PATHS,
    )
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(AccessLogMiddleware)
