"""Queries over the jobs table. State changes are decided in `app.jobs.lifecycle`, never here."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import Conversation, Job
from app.jobs.enums import RUNNING, TERMINAL, JobStatus


def get(session: Session, *, job_id: uuid.UUID) -> Job | None:
    """One job."""
    return session.get(Job, job_id)


def get_for_conversation(session: Session, *, conversation_id: uuid.UUID) -> Job | None:
    """The job of a conversation."""
    return session.scalar(select(Job).where(Job.conversation_id == conversation_id))


def oldest_queued_id(session: Session) -> uuid.UUID | None:
    """The id of the job that has waited longest, if any."""
    return session.scalar(
        select(Job.id).where(Job.status == JobStatus.QUEUED).order_by(Job.created_at).limit(1)
    )


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
