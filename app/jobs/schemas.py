"""API models for audio uploads and jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints

from app.jobs.enums import JobStatus
from app.schemas_common import LocalDatetime, SafeStr

ChannelLayout = Literal["stereo_agent_left", "stereo_agent_right", "mono"]
MAX_URL_CHARS = 1000  # jobs.callback_url is VARCHAR(1000)


def _fits_column(url: AnyHttpUrl) -> AnyHttpUrl:
    # The limit above checks what was sent; percent-encoding and punycode can make the stored form longer.
    if len(str(url)) > MAX_URL_CHARS:
        raise ValueError(f"URL is longer than {MAX_URL_CHARS} characters once encoded")
    return url


CallbackUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=MAX_URL_CHARS), AfterValidator(_fits_column)]


class AudioConversationCreate(BaseModel):
    """Metadata sent with a recording (multipart form fields)."""

    # Not "forbid": the multipart body also carries the `file` part, which FastAPI offers to this model too.
    model_config = ConfigDict(extra="ignore")

    external_id: SafeStr = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    agent_id: SafeStr = Field(min_length=1, max_length=100)
    customer_id: SafeStr | None = Field(default=None, max_length=100)
    started_at: LocalDatetime
    channel: Literal["phone", "chat"] = "phone"
    channel_layout: ChannelLayout = "stereo_agent_left"
    language: str = Field(default="zh", pattern=r"^[a-z]{2}$")
    callback_url: CallbackUrl | None = None


class AudioAccepted(BaseModel):
    conversation_id: uuid.UUID
    job_id: uuid.UUID
    job_url: str
    status: JobStatus


class JobRead(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    kind: str
    status: JobStatus
    progress: float
    attempts: int
    max_attempts: int
    error: str | None
    callback_status: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobsQuery(BaseModel):
    """Query of `GET /v1/jobs`: newest first, optionally one status."""

    model_config = ConfigDict(extra="forbid")

    status: JobStatus | None = None
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page, as returned")
    limit: int = Field(default=50, ge=1, le=200)
