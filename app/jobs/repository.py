"""Queries over the jobs table. State changes are decided in `app.jobs.lifecycle`, never here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.db import Conversation, Job
from app.jobs.enums import RUNNING, TERMINAL, JobStatus


def get(session: Session, *, job_id: uuid.UUID) -> Job | None:
    """One job."""
    return session.get(Job, job_id)


def get_for_conversation(session: Session, *, conversation_id: uuid.UUID) -> Job | None:
    """The job of a conversation."""
    return session.scalar(select(Job).where(Job.conversation_id == conversation_id))


def queued_ids(session: Session) -> Sequence[uuid.UUID]:
    """Queued jobs, oldest first."""
    return session.scalars(
        select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.created_at)
    ).all()


def count_by_status(session: Session) -> dict[JobStatus, int]:
    """How many jobs are in each state (every state, zeros included)."""
    counts = dict.fromkeys(JobStatus, 0)
    for status, n in session.execute(select(Job.status, func.count()).group_by(Job.status)):
        counts[JobStatus(status)] = int(n)
    return counts


def page(
    session: Session, *, status: JobStatus | None, cursor: tuple[datetime, uuid.UUID] | None, limit: int
) -> tuple[list[Job], int]:
    """Jobs newest first (of one status if given), after the keyset `cursor`; one extra row says there is
    a next page. Also the total matching count."""
    conditions = [Job.status == status] if status is not None else []
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    stmt = select(Job).where(*conditions)
    if cursor is not None:
        at, ident = cursor
        stmt = stmt.where(or_(Job.created_at < at, and_(Job.created_at == at, Job.id < ident)))
    rows = session.scalars(stmt.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)).all()
    return list(rows), total


def running(session: Session) -> Sequence[Job]:
    """Jobs some worker claimed and has not finished (alive or not)."""
    return session.scalars(select(Job).where(Job.status.in_(RUNNING)).order_by(Job.created_at)).all()


def unsent_callbacks(session: Session) -> Sequence[uuid.UUID]:
    """Finished jobs whose callback was never attempted (the process stopped between the two)."""
    return session.scalars(
        select(Job.id).where(
            Job.status.in_(TERMINAL), Job.callback_url.is_not(None), Job.callback_status.is_(None)
        )
    ).all()


def conversation_for_update(session: Session, *, conversation_id: uuid.UUID) -> Conversation | None:
    """A conversation, reloaded and locked until the transaction ends (PostgreSQL; SQLite locks on write)."""
    return session.get(Conversation, conversation_id, with_for_update=True, populate_existing=True)


def job_for_update(session: Session, *, job_id: uuid.UUID) -> Job | None:
    """A job, reloaded and locked until the transaction ends."""
    return session.get(Job, job_id, with_for_update=True, populate_existing=True)
