"""Serves the console: a few static files (HTML, CSS, ES modules, vendored ECharts), no data of their own.

The pages call the API with the signed-in user's session cookie. Every script and style is a file served
from here, so the Content-Security-Policy admits our own origin only: no inline script, no CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from app.errors import NotFound

router = APIRouter(tags=["web"], include_in_schema=False)
STATIC_DIR = Path(__file__).with_name("static").resolve()

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self' blob:; "
    "img-src 'self' data: blob:; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE, VERSION
}
# Files are revalidated (ETag) on every load, so a new release is picked up without a hashed file name.
_HEADERS = {"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-cache"}


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


# GET and HEAD: a monitor or a proxy checks a page with HEAD (headers only, no body).
@router.api_route("/", methods=["GET", "HEAD"])
@router.api_route("/ui", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The console (queue, conversations, search, reports, alerts, appeals, rules); it sends to /login."""
    return _file(STATIC_DIR / "index.html")


@router.api_route("/login", methods=["GET", "HEAD"])
def login_page() -> FileResponse:
    """The sign-in page."""
    return _file(STATIC_DIR / "login.html")


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static_file(path: str) -> FileResponse:
    """One of the console's files; nothing outside app/web/static, nothing but the known file types."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file() or target.suffix not in _TYPES:
        raise NotFound("no such file")
    return _file(target)
