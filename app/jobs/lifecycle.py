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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.conversations import repository as conversations
from app.conversations.audit import audit_if_received
from app.conversations.enums import ConversationStatus
from app.db import Conversation, Job
from app.db.base import utcnow
from app.db.session import session_scope
from app.jobs import repository, workers
from app.jobs.enums import RUNNING, TERMINAL, JobStatus
from app.runtime import AuditRuntime
from app.settings import Settings
from app.webhooks import outbound_allowlist, send_callback
from pipelines import types as pt

log = logging.getLogger(__name__)

# The reason a recording without recognisable speech fails (job error and conversation analysis_error).
NO_SPEECH = "no_speech: no speech was recognised in the recording"
_SENDING = "sending"


@dataclass(frozen=True, slots=True)
class Claim:
    """What a delivered transcription task is to do with its job.

    run: transcribe (attempt `attempt`); audit: the transcript is stored, send the audit task for `attempt`;
    skip: another live worker has it, or it ended; later: its holder is late, ask again after a backoff;
    ended: out of attempts, failed now (its callback is due).
    """

    action: Literal["run", "audit", "skip", "later", "ended"]
    attempt: int = 0


def claim_job(
    session: Session, *, job_id: uuid.UUID, worker_id: str, settings: Settings, running_here: bool
) -> Claim:
    """Take a job for transcription, under its row lock: a queued one, or one whose holder is gone.

    `running_here`: this process is working on the job right now (a duplicate message reached it).
    """
    job = repository.job_for_update(session, job_id=job_id)
    if job is None or job.status in TERMINAL:
        return Claim("skip")
    if job.status in RUNNING:
        if job.worker_id == worker_id and job.status == JobStatus.AUDITING and not running_here:
            # We stored its transcript and queued its audit: a duplicate delivery (a sweep's resend, Redis's
            # redelivery) sends that audit again, fenced by the same attempt; a new attempt would throw away
            # the queued audit and count a failure that never happened.
            return Claim("audit", attempt=job.attempts)
        if job.worker_id == worker_id:  # ours: a duplicate, or a task of ours that crashed out of it
            state = workers.Holder.ALIVE if running_here else workers.Holder.GONE
        else:
            state = workers.holder_state(session, job, settings=settings, now=utcnow())
        if state == workers.Holder.ALIVE:
            return Claim("skip")  # a duplicate delivery: the holder finishes it
        if state == workers.Holder.SUSPECT:
            return Claim("later")
        conv = repository.conversation_for_update(session, conversation_id=job.conversation_id)
        assert conv is not None
        if _orphaned(job, conv) != JobStatus.QUEUED:
            return Claim("ended") if job.status in TERMINAL else Claim("audit", attempt=job.attempts)
    now = utcnow()
    job.status, job.worker_id, job.attempts = JobStatus.TRANSCRIBING, worker_id, job.attempts + 1
    job.started_at, job.heartbeat_at, job.progress, job.error = now, now, 0.0, None
    session.flush()
    return Claim("run", attempt=job.attempts)


def hand_off(
    session: Session, *, job_id: uuid.UUID, attempt: int, worker_id: str
) -> tuple[Job, Conversation] | None:
    """Lock a transcribed job to store its transcript and queue its audit; None if it is no longer ours."""
    job, conv = _locked(session, job_id)
    if (job.status, job.attempts, job.worker_id) != (JobStatus.TRANSCRIBING, attempt, worker_id):
        return None  # taken over (this worker was thought dead) or ended meanwhile: that stands
    job.status, job.progress, job.heartbeat_at = JobStatus.AUDITING, 1.0, utcnow()
    return job, conv


def take_audit(session: Session, *, job_id: uuid.UUID, attempt: int, worker_id: str) -> bool:
    """Take the audit of a transcribed job; False when this task is stale (a newer attempt, or ended)."""
    job = repository.job_for_update(session, job_id=job_id)
    if job is None or job.status != JobStatus.AUDITING or job.attempts != attempt:
        return False
    job.worker_id, job.heartbeat_at = worker_id, utcnow()
    return True


def audit_to_record(session: Session, *, job_id: uuid.UUID, attempt: int) -> tuple[Job, Conversation] | None:
    """Lock a job to record its audit; None if another delivery of the same task recorded it first."""
    job, conv = _locked(session, job_id)
    if job.status != JobStatus.AUDITING or job.attempts != attempt:
        return None
    return job, conv


def _orphaned(job: Job, conv: Conversation) -> JobStatus:
    """A running job whose holder is gone: transcription starts again, a stored transcript is audited again.

    Each counts as an attempt, so a job that kills every worker that takes it ends failed.
    """
    error = f"worker stopped while processing, {job.attempts} of {job.max_attempts} attempts used"
    if job.status == JobStatus.AUDITING and job.attempts < job.max_attempts:
        job.attempts, job.worker_id, job.heartbeat_at, job.error = job.attempts + 1, None, utcnow(), error
        return job.status
    return fail(job, conv, error=error, retry=job.status != JobStatus.AUDITING)


def heartbeat(
    session: Session, *, job_id: uuid.UUID, status: JobStatus, progress: float, worker_id: str | None = None
) -> None:
    """Record progress of a running job; also proves its worker is alive. A recovered job is not revived.

    With `worker_id`, only while that worker still holds the job (one thought dead was taken over).
    """
    held = [Job.worker_id == worker_id] if worker_id is not None else []
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(RUNNING), *held)
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
    factory: sessionmaker[Session],
    *,
    settings: Settings,
    job_id: uuid.UUID,
    error: str,
    retry: bool,
    attempt: int | None = None,
) -> JobStatus:
    """`fail` in its own transaction, then the callback if the job ended.

    With `attempt`, only while the job is still on that attempt (a worker thought dead, whose job another
    took over, must not end the new attempt).
    """
    with session_scope(factory) as s:
        job, conv = _locked(s, job_id)
        if job.status in TERMINAL:  # already ended (e.g. by recovery): the first ending stands
            return job.status
        if attempt is not None and job.attempts != attempt:
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


def orphaned_by_dead_local_process(worker_id: str | None) -> bool:
    """True when the worker that claimed a job ran on this host in a process that no longer exists."""
    return workers.dead_local_process(worker_id)


def recover_jobs(session: Session, *, settings: Settings) -> list[Job]:
    """Running jobs whose holder is gone: requeued, their audit sent again, or failed when out of attempts."""
    now = utcnow()
    recovered = []
    for job in repository.running(session):
        if workers.holder_state(session, job, settings=settings, now=now) != workers.Holder.GONE:
            continue
        conv = repository.conversation_for_update(session, conversation_id=job.conversation_id)
        assert conv is not None
        _orphaned(job, conv)
        recovered.append(job)
    session.flush()
    return recovered


def recover(factory: sessionmaker[Session], *, settings: Settings) -> list[tuple[uuid.UUID, JobStatus]]:
    """Recover orphaned jobs (one transaction), then send every callback a stopped process left unsent.

    Returns each recovered job with its new status: `queued` and `auditing` ones are the caller's to send.
    """
    with session_scope(factory) as s:
        jobs = recover_jobs(s, settings=settings)
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
