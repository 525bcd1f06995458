"""Request-scoped dependencies: one DB session per request, the runtime, the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.db.session import session_scope
from app.runtime import AuditRuntime
from app.settings import Settings


def get_db(request: Request) -> Iterator[Session]:
    """Commit when the request succeeds, roll back when it raises; services only flush."""
    with session_scope(request.app.state.session_factory) as session:
        yield session


def get_runtime(request: Request) -> AuditRuntime:
    """The process-wide audit runtime built in the lifespan."""
    runtime: AuditRuntime = request.app.state.runtime
    return runtime


def get_app_settings(request: Request) -> Settings:
    """Settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[Session, Depends(get_db)]
Runtime = Annotated[AuditRuntime, Depends(get_runtime)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
