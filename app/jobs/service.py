"""Audio use cases: accept an upload (validate, store file and job), and process a job in a worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.conversations import repository as conversations
from app.conversations.service import analyse, store_masked_utterances
from app.db import Conversation, Job
from app.db.base import utcnow
from app.db.session import session_scope
from app.errors import Conflict, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.jobs import repository
from app.jobs.schemas import AudioConversationCreate
from app.runtime import AuditRuntime
from app.settings import Settings
from pipelines import types as pt
from pipelines.asr import AudioDecodeError, LayoutError, Transcriber, check_layout, probe_audio

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


class AudioRejected(Unprocessable):
    code = "invalid_audio"


def _save_upload(stream: BinaryIO, target: Path, *, limit: int) -> tuple[int, str]:
    """Copy the upload to disk, refusing it as soon as it passes `limit` bytes; returns (size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"recording is larger than {limit} bytes")
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def accept_upload(
    session: Session,
    *,
    settings: Settings,
    meta: AudioConversationCreate,
    stream: BinaryIO,
    filename: str,
    content_type: str | None,
) -> tuple[Conversation, Job, bool]:
    """Validate and store a recording and queue its job; a re-post of the same external_id is answered as is."""
    existing = conversations.get_by_external_id(session, external_id=meta.external_id)
    if existing is not None:
        job = repository.get_for_conversation(session, conversation_id=existing.id)
        if job is None:
            raise Conflict(f"external_id {meta.external_id!r} was already used for a transcript")
        return existing, job, False

    assert settings.audio_dir is not None
    settings.audio_dir.mkdir(parents=True, exist_ok=True)
    conv_id = uuid.uuid4()
    suffix = Path(filename).suffix.lower()[:8] if filename else ""
    target = settings.audio_dir / f"{conv_id}{suffix}"
    try:
        size, sha = _save_upload(stream, target, limit=settings.max_audio_bytes)
        if size == 0:
            raise AudioRejected("the uploaded file is empty")
        try:
            info = probe_audio(target)
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
        target.unlink(missing_ok=True)
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
        status="pending_transcription",
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
        target.unlink(missing_ok=True)
        winner = conversations.get_by_external_id(session, external_id=meta.external_id)
        winner_job = repository.get_for_conversation(session, conversation_id=winner.id) if winner else None
        if winner is None or winner_job is None:
            raise
        return winner, winner_job, False
    return conv, job, True


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


class _Progress:
    """Writes transcription progress to the job row at most once a second (its own short transactions)."""

    def __init__(self, factory: sessionmaker[Session], job_id: uuid.UUID) -> None:
        self.factory = factory
        self.job_id = job_id
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        with session_scope(self.factory) as s:
            repository.heartbeat(s, job_id=self.job_id, status="transcribing", progress=min(fraction, 0.99))


def process_job(
    factory: sessionmaker[Session], *, runtime: AuditRuntime, transcriber: Transcriber, job_id: uuid.UUID
) -> str:
    """Transcribe, then audit; returns the final status. Failures are stored on the job, never raised."""
    with session_scope(factory) as s:
        job = get_job(s, job_id=job_id)
        conv = conversations.get(s, conversation_id=job.conversation_id)
        if conv is None or conv.audio_path is None:
            raise NotFound(f"job {job_id} has no recording to transcribe")
        options = json.loads(job.options or "{}")
        audio_path = Path(conv.audio_path)
    try:
        transcript = transcriber.transcribe(
            audio_path, layout=options.get("channel_layout", "mono"), progress=_Progress(factory, job_id)
        )
    except (AudioDecodeError, LayoutError) as exc:
        return finish_job(factory, runtime, job_id, error=f"audio could not be decoded: {exc}", retry=False)
    except Exception as exc:
        log.exception("transcription failed for job %s", job_id)
        return finish_job(
            factory, runtime, job_id, error=f"transcription failed: {type(exc).__name__}: {exc}", retry=True
        )

    with session_scope(factory) as s:
        repository.heartbeat(s, job_id=job_id, status="auditing", progress=1.0)
    with session_scope(factory) as s:
        conv = conversations.get(s, conversation_id=job.conversation_id)
        assert conv is not None
        utts = tuple(transcript.utterances)
        pii = store_masked_utterances(s, runtime=runtime, conv=conv, utterances=utts)
        conv.audio_duration_s = transcript.duration_s
        analyse(s, runtime=runtime, conv=conv, pii_findings=pii)
        failed = conv.status == "failed"
        error = conv.analysis_error
    if failed:
        return finish_job(factory, runtime, job_id, error=f"audit failed: {error}", retry=False)
    return finish_job(factory, runtime, job_id, error=None, retry=False)


def finish_job(
    factory: sessionmaker[Session],
    runtime: AuditRuntime,
    job_id: uuid.UUID,
    *,
    error: str | None,
    retry: bool,
) -> str:
    """Move a job to done, back to queued (retry left) or failed; then send its callback."""
    with session_scope(factory) as s:
        job = get_job(s, job_id=job_id)
        conv = conversations.get(s, conversation_id=job.conversation_id)
        assert conv is not None
        if error is None:
            job.status, job.error = "done", None
        elif retry and job.attempts < job.max_attempts:
            job.status, job.error = "queued", error
        else:
            job.status, job.error = "failed", error
            conv.status, conv.analysis_error = "failed", error
        if job.status == "done":
            job.progress = 1.0
        else:
            job.worker_id = None  # free for another worker (queued) or nobody's (failed)
        if job.status in ("done", "failed"):
            job.finished_at = utcnow()
        status = job.status
        payload = _callback_payload(job, conv) if job.callback_url and status in ("done", "failed") else None
        url = job.callback_url
    if payload is not None and url:
        outcome = send_callback(
            url,
            payload,
            secret=runtime.settings.callback_secret,
            timeout=runtime.settings.callback_timeout_seconds,
        )
        with session_scope(factory) as s:
            get_job(s, job_id=job_id).callback_status = outcome
    return status


def _callback_payload(job: Job, conv: Conversation) -> bytes:
    body = {
        "job_id": str(job.id),
        "conversation_id": str(conv.id),
        "external_id": conv.external_id,
        "status": job.status,
        "error": job.error,
        "flagged": conv.flagged,
        "severity": pt.Severity(conv.severity).label,
        "score": conv.score,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


def sign(body: bytes, *, secret: str, timestamp: str) -> str:
    """HMAC-SHA256 over `timestamp.body`, hex; receivers recompute it with the shared secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send_callback(url: str, body: bytes, *, secret: str, timeout: float) -> str:
    """POST the signed result; the outcome is recorded, a failing receiver never fails the job."""
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Audit-Timestamp": ts,
        "X-Audit-Signature": f"sha256={sign(body, secret=secret, timestamp=ts)}",
    }
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__}"
    return f"http {resp.status_code}"


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
    for conv in rows:
        job = repository.get_for_conversation(session, conversation_id=conv.id)
        if job is not None and job.status not in ("done", "failed"):
            continue  # still needed for transcription
        Path(conv.audio_path or "").unlink(missing_ok=True)
        conv.audio_deleted_at = utcnow()
        count += 1
    session.flush()
    return count
