"""Request-scoped dependencies: one DB session per request, the runtime, the settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.runtime import AuditRuntime
from app.settings import Settings


def get_db(request: Request) -> Iterator[Session]:
    """Commit when the request succeeds, roll back when it raises; services only flush.

    Reads see the latest commit; on SQLite the write lock is taken at the first write, not at the first
    read, so no request holds it while it waits for a thread (`app.db.session`).
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# `async def` for what only reads app.state: FastAPI runs a plain `def` dependency in the thread pool, and
# each such hop waits for the GIL behind the requests already working (issue 14: 8 concurrent clients).
async def get_runtime(request: Request) -> AuditRuntime:
    """The process-wide audit runtime built in the lifespan."""
    runtime: AuditRuntime = request.app.state.runtime
    return runtime


async def get_app_settings(request: Request) -> Settings:
    """Settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


# scope="function": the commit runs before the response is sent, so a 2xx means stored; a commit that fails
# (the database went away) becomes a 503 instead of a success the client was already told about.
DbSession = Annotated[Session, Depends(get_db, scope="function")]
Runtime = Annotated[AuditRuntime, Depends(get_runtime)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
