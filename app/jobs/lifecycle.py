"""The one owner of job and conversation state: claim, heartbeat, retry, finish, fail, recover.

A job and its conversation change state together, in one transaction, and only here. A job's callback is
sent once per terminal state: after the commit, by whichever caller first marks it as being sent; a process
that stops between the commit and the send leaves it unmarked, and the start-up recovery sends it.
Conversations left `received` (their process was killed between storing and auditing) are audited again on
start-up (here) and when the same content is posted again (`app.conversations.audit.audit_if_received`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.conversations import repository as conversations
from app.conversations.audit import audit_if_received
from app.conversations.enums import ConversationStatus
from app.db import Conversation, Job
from app.db.base import utcnow
from app.db.session import session_scope
from app.jobs import repository
from app.jobs.enums import RUNNING, TERMINAL, JobStatus
from app.runtime import AuditRuntime
from app.settings import Settings
from app.webhooks import outbound_allowlist, send_callback
from pipelines import types as pt

log = logging.getLogger(__name__)

# The reason a recording without recognisable speech fails (job error and conversation analysis_error).
NO_SPEECH = "no_speech: no speech was recognised in the recording"
_SENDING = "sending"


def claim(session: Session, *, worker_id: str) -> Job | None:
    """Atomically take the oldest queued job; concurrent workers never get the same one."""
    for _ in range(5):
        candidate = repository.oldest_queued_id(session)
        if candidate is None:
            return None
        now = utcnow()
        # Compare-and-set on status: only one worker's UPDATE matches a queued row.
        result = session.execute(
            update(Job)
            .where(Job.id == candidate, Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.TRANSCRIBING,
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
            return session.get(Job, candidate, populate_existing=True)
    return None


def heartbeat(session: Session, *, job_id: uuid.UUID, status: JobStatus, progress: float) -> None:
    """Record progress of a running job; also proves its worker is alive. A recovered job is not revived."""
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(RUNNING))
        .values(status=status, progress=round(progress, 4), heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _end(job: Job, conv: Conversation, *, error: str | None) -> JobStatus:
    job.finished_at = utcnow()
    if error is None:
        job.status, job.error, job.progress = JobStatus.DONE, None, 1.0
        return job.status
    job.status, job.error, job.worker_id = JobStatus.FAILED, error, None
    conv.status, conv.analysis_error = ConversationStatus.FAILED, error
    return job.status


def complete(job: Job, conv: Conversation) -> JobStatus:
    """End a job as its conversation's audit ended (in the audit's transaction): done, or failed with its reason."""
    if conv.status == ConversationStatus.ANALYSED:
        return _end(job, conv, error=None)
    return _end(job, conv, error=f"audit failed: {conv.analysis_error or 'no result'}")


def fail(job: Job, conv: Conversation, *, error: str, retry: bool) -> JobStatus:
    """Queue the job again while attempts are left (if `retry`), else fail it and its conversation."""
    if retry and job.attempts < job.max_attempts:
        job.status, job.error, job.worker_id, job.progress = JobStatus.QUEUED, error, None, 0.0
        return job.status
    return _end(job, conv, error=error)


def fail_job(
    factory: sessionmaker[Session], *, settings: Settings, job_id: uuid.UUID, error: str, retry: bool
) -> JobStatus:
    """`fail` in its own transaction, then the callback if the job ended."""
    with session_scope(factory) as s:
        job, conv = _locked(s, job_id)
        if job.status in TERMINAL:  # already ended (e.g. by recovery): the first ending stands
            return job.status
        status = fail(job, conv, error=error, retry=retry)
    deliver_callback(factory, settings=settings, job_id=job_id)
    return status


def _locked(session: Session, job_id: uuid.UUID) -> tuple[Job, Conversation]:
    job = repository.job_for_update(session, job_id=job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found")
    conv = repository.conversation_for_update(session, conversation_id=job.conversation_id)
    assert conv is not None  # the foreign key cascades deletes
    return job, conv


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


def recover_jobs(session: Session, *, stale_after: timedelta) -> list[Job]:
    """Running jobs whose worker died go back to the queue, or fail with their conversation when out of attempts."""
    now = utcnow()
    recovered = []
    for job in repository.running(session):
        stale = job.heartbeat_at is None or now - job.heartbeat_at > stale_after
        if not (stale or orphaned_by_dead_local_process(job.worker_id)):
            continue
        conv = repository.conversation_for_update(session, conversation_id=job.conversation_id)
        assert conv is not None
        fail(
            job,
            conv,
            error=f"worker stopped while processing, {job.attempts} of {job.max_attempts} attempts used",
            retry=True,
        )
        recovered.append(job)
    session.flush()
    return recovered


def recover(factory: sessionmaker[Session], *, settings: Settings) -> list[tuple[uuid.UUID, JobStatus]]:
    """Recover orphaned jobs (one transaction), then send every callback a stopped process left unsent."""
    with session_scope(factory) as s:
        jobs = recover_jobs(s, stale_after=timedelta(seconds=settings.job_stale_seconds))
        outcome = [(job.id, job.status) for job in jobs]
    for job_id, status in outcome:
        log.warning("recovered job %s -> %s", job_id, status)
    with session_scope(factory, read_only=True) as s:
        unsent = repository.unsent_callbacks(s)
    for job_id in unsent:
        deliver_callback(factory, settings=settings, job_id=job_id)
    return outcome


def deliver_callback(factory: sessionmaker[Session], *, settings: Settings, job_id: uuid.UUID) -> str | None:
    """Send an ended job's callback unless someone already did; returns the outcome (None: nothing sent)."""
    with session_scope(factory) as s:
        # Compare-and-set: of all callers (worker, recovery, another process), exactly one gets to send.
        marked = s.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status.in_(TERMINAL),
                Job.callback_url.is_not(None),
                Job.callback_status.is_(None),
            )
            .values(callback_status=_SENDING)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            return None
        job, conv = _locked(s, job_id)
        url, payload = job.callback_url, _callback_payload(job, conv)
    assert url is not None
    outcome = str(
        send_callback(
            url,
            payload,
            secret=settings.callback_secret,
            timeout=settings.callback_timeout_seconds,
            allowlist=outbound_allowlist(settings),
        )
    )
    with session_scope(factory) as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(callback_status=outcome)
            .execution_options(synchronize_session=False)
        )
    return outcome


def _callback_payload(job: Job, conv: Conversation) -> bytes:
    body = {
        "job_id": str(job.id),
        "conversation_id": str(conv.id),
        "external_id": conv.external_id,
        "status": job.status.value,
        "error": job.error,
        "flagged": conv.flagged,
        "severity": pt.Severity(conv.severity).label,
        "score": conv.score,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


def recover_received(
    factory: sessionmaker[Session],
    *,
    runtime: AuditRuntime,
    updated_before: datetime | None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Audit every conversation left `received` (last changed before `updated_before`), each in its own transaction."""
    with session_scope(factory, read_only=True) as s:
        ids = conversations.received_ids(s, updated_before=updated_before)
    done = 0
    for conversation_id in ids:
        if should_stop():  # shutting down: the rest stay received for the next start
            break
        try:
            # A plain session: the audit runs outside any transaction, its result is recorded in a short one.
            with factory() as s:
                audit_if_received(s, runtime=runtime, conversation_id=conversation_id)
            done += 1
        except Exception:  # one bad row must not stop the others; it stays received for the next sweep
            log.exception("could not audit conversation %s", conversation_id)
    return done
