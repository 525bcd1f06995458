"""Serves the one-page UI; it holds no data of its own and calls the API with the user's key."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["web"], include_in_schema=False)
_PAGE = Path(__file__).with_name("index.html")


@router.get("/")
@router.get("/ui")
def index() -> FileResponse:
    """The supervisor queue and auditor search page."""
    return FileResponse(_PAGE, media_type="text/html; charset=utf-8")
