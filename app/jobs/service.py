"""Audio use cases: accept an upload (validate, store file and job), list jobs, retention. Tasks: `app.jobs.tasks`."""

from __future__ import annotations

import json
import logging
import mimetypes
import uuid
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audio.store import AudioStore
from app.conversations import repository as conversations
from app.conversations.enums import ConversationStatus
from app.db import Conversation, Job
from app.db.base import utcnow
from app.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.jobs import repository
from app.jobs.enums import TERMINAL, JobStatus
from app.jobs.schemas import AudioConversationCreate
from app.pagination import decode_cursor, encode_cursor, time_id_position
from app.settings import Settings
from app.webhooks import outbound_allowlist, validate_callback_url
from pipelines.asr import AudioDecodeError, LayoutError, check_layout, probe_audio

log = logging.getLogger(__name__)


class AudioRejected(Unprocessable):
    code = "invalid_audio"


def accept_upload(
    session: Session,
    *,
    settings: Settings,
    meta: AudioConversationCreate,
    stream: BinaryIO,
    filename: str,
    content_type: str | None,
) -> tuple[Conversation, Job, bool]:
    """Validate and store a recording and queue its job.

    A re-post of the same external_id is answered with the existing job if the file is the same, 409 if not.
    """
    validate_callback_url(
        str(meta.callback_url) if meta.callback_url else None, allowlist=outbound_allowlist(settings)
    )
    store = AudioStore(settings)
    conv_id = uuid.uuid4()
    suffix = Path(filename).suffix.lower()[:8] if filename else ""
    target = store.path_for(conv_id, suffix)
    try:
        stored = store.save_upload(
            stream, conversation_id=conv_id, suffix=suffix, limit=settings.max_audio_bytes
        )
        size, sha = stored.size, stored.sha256
        existing = conversations.get_by_external_id(session, external_id=meta.external_id)
        if existing is not None:
            store.delete(target)
            return (*_existing_upload(session, existing, sha), False)
        if size == 0:
            raise AudioRejected("the uploaded file is empty")
        try:
            with store.open_plain(target) as plain:
                info = probe_audio(plain)
        except AudioDecodeError as exc:
            raise UnsupportedMediaType(f"not a decodable recording: {exc}", code="unsupported_audio") from exc
        if info.duration_s > settings.max_audio_seconds:
            raise PayloadTooLarge(
                f"recording lasts {info.duration_s:.0f} s, the limit is {settings.max_audio_seconds:.0f} s"
            )
        try:
            check_layout(info, meta.channel_layout)
        except LayoutError as exc:
            raise AudioRejected(str(exc), code="layout_mismatch") from exc
    except BaseException:
        store.delete(target)
        raise

    conv = Conversation(
        id=conv_id,
        external_id=meta.external_id,
        payload_sha256=sha,
        source="audio",
        channel=meta.channel,
        agent_id=meta.agent_id,
        customer_id=meta.customer_id,
        started_at=meta.started_at,
        status=ConversationStatus.PENDING_TRANSCRIPTION,
        audio_path=str(target),
        audio_content_type=content_type or "application/octet-stream",
        audio_duration_s=info.duration_s,
    )
    job = Job(
        conversation_id=conv_id,
        kind="transcribe",
        max_attempts=settings.job_max_attempts,
        options=json.dumps({"channel_layout": meta.channel_layout, "language": meta.language}),
        callback_url=str(meta.callback_url) if meta.callback_url else None,
    )
    try:
        # A savepoint: a concurrent upload of the same external_id wins cleanly, this one's file is removed.
        with session.begin_nested():
            session.add_all([conv, job])
    except IntegrityError:
        store.delete(target)
        winner = conversations.get_by_external_id(session, external_id=meta.external_id)
        if winner is None:
            raise
        return (*_existing_upload(session, winner, sha), False)
    return conv, job, True


def _existing_upload(session: Session, conv: Conversation, sha: str) -> tuple[Conversation, Job]:
    """The conversation and job already stored under this external_id, if it is the same recording."""
    job = repository.get_for_conversation(session, conversation_id=conv.id)
    if job is None:
        raise Conflict(
            f"external_id {conv.external_id!r} was already used for a transcript",
            details={"id": str(conv.id)},
        )
    if conv.payload_sha256 != sha:
        raise Conflict(
            f"external_id {conv.external_id!r} was already posted with a different recording",
            details={"id": str(conv.id)},
        )
    return conv, job


def get_job(session: Session, *, job_id: uuid.UUID) -> Job:
    """One job or NotFound."""
    job = repository.get(session, job_id=job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def audio_file(session: Session, *, conversation_id: uuid.UUID) -> tuple[Path, str]:
    """Path and content type of a stored recording."""
    conv = conversations.get(session, conversation_id=conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} not found")
    if conv.audio_path is None:
        raise NotFound("this conversation has no recording", code="no_audio")
    if conv.audio_deleted_at is not None or not Path(conv.audio_path).is_file():
        raise NotFound("the recording was deleted by the retention policy", code="audio_deleted")
    return Path(conv.audio_path), conv.audio_content_type or "application/octet-stream"


def original_audio_file(session: Session, *, conversation_id: uuid.UUID) -> tuple[Path, str]:
    """Path and content type of the unredacted original, kept only with AUDIT_KEEP_UNREDACTED_AUDIO."""
    audio_file(session, conversation_id=conversation_id)  # the same 404s first
    conv = conversations.get(session, conversation_id=conversation_id)
    assert conv is not None
    if conv.audio_original_path is None or not Path(conv.audio_original_path).is_file():
        raise NotFound("no unredacted original is kept for this recording", code="no_original_audio")
    path = Path(conv.audio_original_path)
    return path, mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def list_jobs(
    session: Session, *, status: JobStatus | None, cursor: str | None, limit: int
) -> tuple[list[Job], str | None, int]:
    """One page of jobs, newest first, optionally of one status; the next page's cursor and the total."""
    position = decode_cursor(cursor, time_id_position) if cursor is not None else None
    rows, total = repository.page(session, status=status, cursor=position, limit=limit)
    last = rows[limit - 1] if len(rows) > limit else None
    next_cursor = encode_cursor([last.created_at.isoformat(), str(last.id)]) if last is not None else None
    return rows[:limit], next_cursor, total


def purge_expired_audio(session: Session, *, settings: Settings) -> int:
    """Delete recordings older than the retention period; transcripts and findings stay."""
    if settings.audio_retention_days is None:
        return 0
    cutoff = utcnow() - timedelta(days=settings.audio_retention_days)
    rows = session.scalars(
        select(Conversation).where(
            Conversation.audio_path.is_not(None),
            Conversation.audio_deleted_at.is_(None),
            Conversation.created_at < cutoff,
        )
    )
    count = 0
    store = AudioStore(settings)
    for conv in rows:
        job = repository.get_for_conversation(session, conversation_id=conv.id)
        if job is not None and job.status not in TERMINAL:
            continue  # still needed for transcription
        store.delete(Path(conv.audio_path or ""))
        if conv.audio_original_path is not None:  # the unredacted original, when kept
            store.delete(Path(conv.audio_original_path))
        conv.audio_deleted_at = utcnow()
        count += 1
    session.flush()
    return count
