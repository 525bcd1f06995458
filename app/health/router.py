"""Health: a public ok/degraded for load balancers; versions and the database dialect for admins only."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.auth.dependencies import Caller
from app.db.session import session_scope
from app.deps import Runtime
from app.errors import error_responses
from app.jobs.queue import JobQueue
from app.jobs.workers import live_workers

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class HealthRead(BaseModel):
    """Public health: nothing about the deployment beyond whether it can serve."""

    status: Literal["ok", "degraded"]


class WorkerRead(BaseModel):
    """A job-running process with a recent heartbeat."""

    worker_id: str
    hostname: str
    queues: list[str]
    concurrency: int
    started_at: datetime
    heartbeat_at: datetime


class QueueHealth(BaseModel):
    """The task queue: which broker, messages per queue (None: the broker does not answer), live workers."""

    broker: Literal["redis", "in-process"]
    depth: dict[str, int] | None
    workers: list[WorkerRead]


class HealthDetails(HealthRead):
    """What an admin needs to tell deployments apart; no filesystem paths."""

    database: str
    lexicon_version: str
    rules_version: str  # rules.yaml's short sha, or `vN` while a stored rules version is in force
    models: dict[str, str | None]
    queue: QueueHealth | None = None


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
    """Health with the database dialect, the lexicon version, the loaded models' versions, and the task
    queue: its broker, messages per queue and the workers whose heartbeat is recent."""
    ok = _database_answers(request)
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    engine: Engine = request.app.state.engine
    return HealthDetails(
        status="ok" if ok else "degraded",
        database=engine.dialect.name,
        lexicon_version=runtime.lexicon_version,
        rules_version=runtime.current_pipeline.stages.rules.version,
        models=runtime.model_versions(),
        queue=_queue_health(request) if ok else None,
    )


def _queue_health(request: Request) -> QueueHealth:
    queue: JobQueue = request.app.state.job_runner.queue
    try:
        depth: dict[str, int] | None = queue.depth()
    except Exception as exc:  # the broker is away: the rest of the answer still helps
        log.warning("health: broker does not answer (%s)", type(exc).__name__)
        depth = None
    with session_scope(request.app.state.session_factory, read_only=True) as s:
        rows = live_workers(s, settings=request.app.state.settings)
        workers = [
            WorkerRead(
                worker_id=w.worker_id,
                hostname=w.hostname,
                queues=w.queues.split(","),
                concurrency=w.concurrency,
                started_at=w.started_at,
                heartbeat_at=w.heartbeat_at,
            )
            for w in rows
        ]
    return QueueHealth(broker="in-process" if queue.local else "redis", depth=depth, workers=workers)
