"""jobs: durable transcription/audit work items, claimed by workers and retried on failure."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime
from app.jobs.enums import JobStatus


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default="transcribe")
    # queued -> transcribing -> auditing -> done | failed
    status: Mapped[JobStatus] = mapped_column(
        StrEnumType(JobStatus, 16), nullable=False, default=JobStatus.QUEUED
    )
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    error: Mapped[str | None] = mapped_column(Text)
    options: Mapped[str | None] = mapped_column(Text)  # JSON: channel_layout, language
    callback_url: Mapped[str | None] = mapped_column(String(1000))
    callback_status: Mapped[str | None] = mapped_column(String(200))
    worker_id: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_jobs_status", "status", "created_at"),)
