"""Audio endpoints: upload a recording (202 + job), follow the job, stream the recording back."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from app.access_log import service as access_log
from app.access_log.enums import AccessKind
from app.audio.serving import audio_response
from app.audio.store import AudioStore
from app.auth.dependencies import Caller
from app.deps import AppSettings, DbSession
from app.errors import error_responses
from app.jobs import service
from app.jobs.queue import JobQueue
from app.jobs.schemas import AudioAccepted, AudioConversationCreate, JobRead, JobsQuery
from app.schemas_common import Page

router = APIRouter(tags=["audio"])


def _queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.job_runner.queue
    return queue


Queue = Annotated[JobQueue, Depends(_queue)]


def _job_read(job: object) -> JobRead:
    return JobRead.model_validate(job, from_attributes=True)


@router.post(
    "/v1/conversations/audio",
    response_model=AudioAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": AudioAccepted, "description": "already posted"},
        **error_responses(400, 401, 403, 409, 413, 415, 422),
    },
)
def create_audio_conversation(
    file: UploadFile,
    meta: Annotated[AudioConversationCreate, Form()],
    session: DbSession,
    settings: AppSettings,
    _key: Caller,
    response: Response,
    queue: Queue,
) -> AudioAccepted:
    """Upload a call recording with its metadata; it is transcribed and audited by a worker. Follow `job_url`."""
    conv, job, created = service.accept_upload(
        session,
        settings=settings,
        meta=meta,
        stream=file.file,
        filename=file.filename or "",
        content_type=file.content_type,
    )
    if created:
        queue.send_after_commit(session, job.id)
    else:
        response.status_code = status.HTTP_200_OK
    return AudioAccepted(
        conversation_id=conv.id, job_id=job.id, job_url=f"/v1/jobs/{job.id}", status=job.status
    )


@router.get("/v1/jobs", response_model=Page[JobRead], responses=error_responses(400, 401, 403, 422))
def list_jobs(query: Annotated[JobsQuery, Query()], session: DbSession, _key: Caller) -> Page[JobRead]:
    """Jobs newest first, e.g. `?status=failed` with their reasons or `?status=queued` to see a backlog."""
    rows, next_cursor, total = service.list_jobs(
        session, status=query.status, cursor=query.cursor, limit=query.limit
    )
    return Page[JobRead](items=[_job_read(r) for r in rows], next_cursor=next_cursor, total=total)


@router.get("/v1/jobs/{job_id}", response_model=JobRead, responses=error_responses(401, 403, 404, 422))
def get_job(job_id: uuid.UUID, session: DbSession, _key: Caller) -> JobRead:
    """State of a transcription job: queued → transcribing (progress) → auditing → done | failed (with the reason)."""
    return _job_read(service.get_job(session, job_id=job_id))


@router.get(
    "/v1/conversations/{conversation_id}/audio",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/*": {}}},
        206: {"content": {"audio/*": {}}, "description": "the requested range"},
        **error_responses(401, 403, 404, 416, 422, 500),
    },
)
def get_conversation_audio(
    conversation_id: uuid.UUID, request: Request, session: DbSession, settings: AppSettings, key: Caller
) -> StreamingResponse:
    """Stream the recording, decrypted on the fly (single HTTP ranges for seeking to a finding).

    Every read is written to the access log. A stored file that does not verify is never served (500
    `audio_corrupt`).
    """
    path, content_type = service.audio_file(session, conversation_id=conversation_id)
    access_log.record_read(session, key=key, conversation_id=conversation_id, kind=AccessKind.AUDIO)
    return audio_response(
        AudioStore(settings), path, media_type=content_type, range_header=request.headers.get("range")
    )


@router.get(
    "/v1/conversations/{conversation_id}/audio/original",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"audio/*": {}}},
        206: {"content": {"audio/*": {}}, "description": "the requested range"},
        **error_responses(401, 403, 404, 416, 422, 500),
    },
)
def get_conversation_audio_original(
    conversation_id: uuid.UUID, request: Request, session: DbSession, settings: AppSettings, key: Caller
) -> StreamingResponse:
    """Stream the unredacted original recording (admins only; kept only with AUDIT_KEEP_UNREDACTED_AUDIO).

    404 `no_original_audio` when none is kept. Every read is written to the access log.
    """
    path, content_type = service.original_audio_file(session, conversation_id=conversation_id)
    access_log.record_read(session, key=key, conversation_id=conversation_id, kind=AccessKind.AUDIO_ORIGINAL)
    return audio_response(
        AudioStore(settings), path, media_type=content_type, range_header=request.headers.get("range")
    )
