"""The job queue over the jobs table: claim, heartbeat, finish, recover. Any worker process can use it."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import Job
from app.db.base import utcnow

RUNNING = ("transcribing", "auditing")


def get(session: Session, *, job_id: uuid.UUID) -> Job | None:
    """One job."""
    return session.get(Job, job_id)


def get_for_conversation(session: Session, *, conversation_id: uuid.UUID) -> Job | None:
    """The job of a conversation."""
    return session.scalar(select(Job).where(Job.conversation_id == conversation_id))


def claim_next(session: Session, *, worker_id: str) -> Job | None:
    """Atomically take the oldest queued job; concurrent workers never get the same one."""
    for _ in range(5):
        candidate = session.scalar(
            select(Job.id).where(Job.status == "queued").order_by(Job.created_at).limit(1)
        )
        if candidate is None:
            return None
        now = utcnow()
        # Compare-and-set on status: only one worker's UPDATE matches a queued row.
        result = session.execute(
            update(Job)
            .where(Job.id == candidate, Job.status == "queued")
            .values(
                status="transcribing",
                worker_id=worker_id,
                attempts=Job.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                progress=0.0,
                error=None,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.flush()
            job = session.get(Job, candidate, populate_existing=True)
            return job
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned_by_dead_local_process(worker_id: str | None) -> bool:
    """True when the worker that claimed a job ran on this host in a process that no longer exists."""
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    return (
        host == socket.gethostname()
        and pid.isdigit()
        and int(pid) != os.getpid()
        and not _pid_alive(int(pid))
    )


def recover_orphans(session: Session, *, stale_after: timedelta) -> list[Job]:
    """Put running jobs whose worker died back in the queue, or fail them once out of attempts."""
    now = utcnow()
    running = session.scalars(select(Job).where(Job.status.in_(RUNNING)))
    recovered = []
    for job in running:
        stale = job.heartbeat_at is None or now - job.heartbeat_at > stale_after
        if not (stale or orphaned_by_dead_local_process(job.worker_id)):
            continue
        if job.attempts >= job.max_attempts:
            job.status = "failed"
            job.error = f"worker stopped while processing, {job.attempts} attempts used"
            job.finished_at = now
        else:
            job.status = "queued"
            job.progress = 0.0
        job.worker_id = None
        recovered.append(job)
    session.flush()
    return recovered


def heartbeat(session: Session, *, job_id: uuid.UUID, status: str, progress: float) -> None:
    """Record progress; also proves the worker is alive."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(status=status, progress=round(progress, 4), heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
