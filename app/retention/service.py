"""Retention at scale: purge old recordings and, when `AUDIT_CONVERSATION_RETENTION_DAYS` is set, old
conversations, in batches of `AUDIT_RETENTION_BATCH_SIZE` rows, each its own short transaction.

One statement over millions of rows would hold its row locks (and on SQLite the write lock) for minutes and
blow up one transaction's size. Here each batch locks only its own rows (PostgreSQL `FOR UPDATE SKIP LOCKED`:
a row a reviewer or worker is writing is left for the next run, never waited for), deletes the files, writes,
and commits; the next batch starts after the last key seen, so a row that cannot be purged now (its job still
running, its file not deletable) is passed over rather than retried in a loop. Deleting a conversation
removes its utterances, findings, keywords, reviews, job and appeals through the foreign keys' ON DELETE
CASCADE; the access log keeps its record of who read it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, delete, exists, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from app.audio.store import AudioStore
from app.db import Conversation, Job
from app.db.base import utcnow
from app.db.session import session_scope
from app.jobs.enums import TERMINAL
from app.settings import Settings

log = logging.getLogger(__name__)

_Row = tuple[uuid.UUID, datetime, str | None, str | None]


def _job_running() -> ColumnElement[bool]:
    # A recording still waiting for (or in) transcription is needed; so is its conversation.
    return exists().where(Job.conversation_id == Conversation.id, Job.status.not_in(list(TERMINAL)))


def _batch(
    session: Session, *, time_col: str, cutoff: datetime, after: tuple[datetime, uuid.UUID] | None,
    size: int, audio_only: bool,
) -> list[_Row]:  # fmt: skip
    C = Conversation
    at = getattr(C, time_col)
    stmt = select(C.id, at, C.audio_path, C.audio_original_path).where(at < cutoff, ~_job_running())
    if audio_only:
        stmt = stmt.where(C.audio_path.is_not(None), C.audio_deleted_at.is_(None))
    if after is not None:
        stmt = stmt.where(tuple_(at, C.id) > tuple_(*after))
    stmt = stmt.order_by(at, C.id).limit(size).with_for_update(of=C, skip_locked=True)
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(stmt)]


def _delete_files(store: AudioStore, row: _Row) -> bool:
    try:
        for path in (row[2], row[3]):
            if path is not None:
                store.delete(Path(path))
    except OSError:
        log.exception("retention: could not delete the recording of conversation %s", row[0])
        return False
    return True


def _purge(
    factory: sessionmaker[Session], *, settings: Settings, time_col: str, cutoff: datetime, audio_only: bool,
    apply: Callable[[Session, list[uuid.UUID]], None], should_stop: Callable[[], bool] | None,
) -> int:  # fmt: skip
    store = AudioStore(settings)
    size = settings.retention_batch_size
    after: tuple[datetime, uuid.UUID] | None = None
    done = 0
    while should_stop is None or not should_stop():
        with session_scope(factory) as session:
            rows = _batch(
                session, time_col=time_col, cutoff=cutoff, after=after, size=size, audio_only=audio_only
            )
            if not rows:
                break
            after = (rows[-1][1], rows[-1][0])
            # Files first, then the rows: if the commit fails, the next run finds the same rows and
            # finishes them (deleting a missing file is fine); the other order could leave files forever.
            ids = [r[0] for r in rows if _delete_files(store, r)]
            if ids:
                apply(session, ids)
            done += len(ids)
        if len(rows) < size:
            break
    return done


def _mark_audio_deleted(session: Session, ids: list[uuid.UUID]) -> None:
    session.execute(
        update(Conversation).where(Conversation.id.in_(ids)).values(audio_deleted_at=utcnow()),
        execution_options={"synchronize_session": False},
    )


def _delete_conversations(session: Session, ids: list[uuid.UUID]) -> None:
    session.execute(
        delete(Conversation).where(Conversation.id.in_(ids)), execution_options={"synchronize_session": False}
    )


def purge_expired_audio(
    factory: sessionmaker[Session], *, settings: Settings, should_stop: Callable[[], bool] | None = None
) -> int:
    """Delete recordings older than `audio_retention_days` (transcripts and findings stay); returns how many."""
    if settings.audio_retention_days is None:
        return 0
    cutoff = utcnow() - timedelta(days=settings.audio_retention_days)
    n = _purge(
        factory, settings=settings, time_col="created_at", cutoff=cutoff, audio_only=True,
        apply=_mark_audio_deleted, should_stop=should_stop,
    )  # fmt: skip
    if n:
        log.info("retention: deleted %d recordings older than %d days", n, settings.audio_retention_days)
    return n


def purge_expired_conversations(
    factory: sessionmaker[Session], *, settings: Settings, should_stop: Callable[[], bool] | None = None
) -> int:
    """Delete conversations that started more than `conversation_retention_days` ago (off by default)."""
    if settings.conversation_retention_days is None:
        return 0
    cutoff = utcnow() - timedelta(days=settings.conversation_retention_days)
    n = _purge(
        factory, settings=settings, time_col="started_at", cutoff=cutoff, audio_only=False,
        apply=_delete_conversations, should_stop=should_stop,
    )  # fmt: skip
    if n:
        log.info(
            "retention: deleted %d conversations older than %d days", n, settings.conversation_retention_days
        )
    return n


def purge_expired(
    factory: sessionmaker[Session], *, settings: Settings, should_stop: Callable[[], bool] | None = None
) -> int:
    """Apply both retention policies; returns the recordings deleted (conversations are logged)."""
    audio = purge_expired_audio(factory, settings=settings, should_stop=should_stop)
    purge_expired_conversations(factory, settings=settings, should_stop=should_stop)
    return audio
