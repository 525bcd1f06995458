"""Serves the one-page UI; it holds no data of its own and calls the API with the user's key."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["web"], include_in_schema=False)
_PAGE = Path(__file__).with_name("index.html")


@cache
def console_csp() -> str:
    """The page's Content-Security-Policy: only its own inline script and style (by hash), never framed."""
    page = _PAGE.read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks
        )

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


@router.get("/")
@router.get("/ui")
def index() -> FileResponse:
    """The supervisor queue and auditor search page."""
    return FileResponse(
        _PAGE, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": console_csp()}
    )
