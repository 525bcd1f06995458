"""Health: database reachable, lexicon and model versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from app.deps import DbSession, Runtime

router = APIRouter(tags=["health"])


@router.get("/v1/health")
def health(session: DbSession, runtime: Runtime) -> dict[str, Any]:
    """Service status, lexicon version and the versions of the loaded models."""
    session.execute(text("SELECT 1"))
    return {
        "status": "ok",
        "database": session.get_bind().dialect.name,
        "lexicon_version": runtime.lexicon_version,
        "models": runtime.model_versions(),
    }
