"""Health: a public ok/degraded for load balancers; versions and the database dialect for admins only."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.auth.dependencies import Caller
from app.deps import Runtime
from app.errors import error_responses

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class HealthRead(BaseModel):
    """Public health: nothing about the deployment beyond whether it can serve."""

    status: Literal["ok", "degraded"]


class HealthDetails(HealthRead):
    """What an admin needs to tell deployments apart; no filesystem paths."""

    database: str
    lexicon_version: str
    models: dict[str, str | None]


def _database_answers(request: Request) -> bool:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health: database does not answer (%s)", type(exc).__name__)
        return False
    return True


@router.get(
    "/v1/health",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "the database does not answer"}},
)
def health(request: Request, response: Response) -> HealthRead:
    """`ok` when the service and its database answer; `degraded` (503) when the database does not."""
    if _database_answers(request):
        return HealthRead(status="ok")
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthRead(status="degraded")


@router.get(
    "/v1/admin/health",
    response_model=HealthDetails,
    responses={503: {"model": HealthDetails}, **error_responses(401, 403)},
)
def admin_health(request: Request, response: Response, runtime: Runtime, _key: Caller) -> HealthDetails:
    """Health with the database dialect, the lexicon version and the versions of the loaded models."""
    ok = _database_answers(request)
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    engine: Engine = request.app.state.engine
    return HealthDetails(
        status="ok" if ok else "degraded",
        database=engine.dialect.name,
        lexicon_version=runtime.lexicon_version,
        models=runtime.model_versions(),
    )
