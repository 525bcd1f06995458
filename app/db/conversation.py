"""conversations: one row per posted transcript or recording; the unit of review."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.conversations.enums import ConversationStatus
from app.db.base import Base, IdMixin, StrEnumType, TimestampMixin, UTCDateTime, utcnow
from app.privacy import mask_optional

if TYPE_CHECKING:
    from app.db.finding import Finding
    from app.db.keyword import Keyword
    from app.db.review import Review
    from app.db.utterance import Utterance


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"

    external_id: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    payload_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(
        String(16), nullable=False, default="transcript"
    )  # transcript | audio
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    agent_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    customer_id: Mapped[str | None] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)
    # received -> analysed | failed; audio: pending_transcription first
    status: Mapped[ConversationStatus] = mapped_column(
        StrEnumType(ConversationStatus, 32), nullable=False, default=ConversationStatus.RECEIVED
    )
    analysis_error: Mapped[str | None] = mapped_column(Text)
    analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lexicon_version: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float)
    score_breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    severity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    flagged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    review_status: Mapped[str] = mapped_column(String(16), nullable=False, default="unreviewed")
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # customer emotion over the conversation (issue 4)
    customer_emotion: Mapped[str | None] = mapped_column(String(16))
    customer_emotion_peak: Mapped[str | None] = mapped_column(String(16))
    customer_emotion_peak_confidence: Mapped[float | None] = mapped_column(Float)
    emotion_trajectory: Mapped[str | None] = mapped_column(String(16))
    emotion_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # audio (issue 3)
    audio_path: Mapped[str | None] = mapped_column(String(500))
    audio_content_type: Mapped[str | None] = mapped_column(String(100))
    audio_duration_s: Mapped[float | None] = mapped_column(Float)
    audio_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # spoken personal data silenced in the stored recording (issue 15): [{start_ms, end_ms, kind, speaker,
    # channel, utterance_index}]; the unredacted original, kept only with AUDIT_KEEP_UNREDACTED_AUDIO
    audio_redactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    audio_original_path: Mapped[str | None] = mapped_column(String(500))

    utterances: Mapped[list[Utterance]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Utterance.index"
    )
    findings: Mapped[list[Finding]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Finding.position"
    )
    keywords: Mapped[list[Keyword]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Keyword.position"
    )
    reviews: Mapped[list[Review]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Review.created_at"
    )

    @validates("customer_id")
    def _mask_customer_id(self, _key: str, value: str | None) -> str | None:
        # An identifier the client types may be a phone or ID number: stored masked, whoever writes it.
        return mask_optional(value)

    __table_args__ = (
        # The supervisor queue: flagged, unreviewed, most severe then newest first.
        Index("ix_conversations_queue", "flagged", "review_status", "severity", "started_at"),
        Index("ix_conversations_started_at", "started_at"),
    )
