"""API models for audio uploads and jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

ChannelLayout = Literal["stereo_agent_left", "stereo_agent_right", "mono"]
JobStatus = Literal["queued", "transcribing", "auditing", "done", "failed"]


class AudioConversationCreate(BaseModel):
    """Metadata sent with a recording (multipart form fields)."""

    # Not "forbid": the multipart body also carries the `file` part, which FastAPI offers to this model too.
    model_config = ConfigDict(extra="ignore")

    external_id: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    agent_id: str = Field(min_length=1, max_length=100)
    customer_id: str | None = Field(default=None, max_length=100)
    started_at: AwareDatetime
    channel: Literal["phone", "chat"] = "phone"
    channel_layout: ChannelLayout = "stereo_agent_left"
    language: str = Field(default="zh", pattern=r"^[a-z]{2}$")
    callback_url: AnyHttpUrl | None = None


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
