"""conversations: one row per posted transcript or recording; the unit of review."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, event, inspect, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column, relationship, validates

from app.conversations.enums import ConversationStatus
from app.conversations.search_text import TEXT_SEPARATOR, grams, tsvector_literal
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
    agent_id: Mapped[str] = mapped_column(String(100), nullable=False)
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
    # conversation-level dissatisfaction (issue 11): probability the customer leaves dissatisfied, and the
    # customer turns that drive it ([{index, weight}]); NULL when not yet analysed by that model
    dissatisfaction: Mapped[float | None] = mapped_column(Float)
    dissatisfaction_turns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # audio (issue 3)
    audio_path: Mapped[str | None] = mapped_column(String(500))
    audio_content_type: Mapped[str | None] = mapped_column(String(100))
    audio_duration_s: Mapped[float | None] = mapped_column(Float)
    audio_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # spoken personal data silenced in the stored recording (issue 15): [{start_ms, end_ms, kind, speaker,
    # channel, utterance_index}]; the unredacted original, kept only with AUDIT_KEEP_UNREDACTED_AUDIO
    audio_redactions: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    audio_original_path: Mapped[str | None] = mapped_column(String(500))
    # Full-text index of the utterances (PostgreSQL; NULL on SQLite, which searches the text itself): the
    # character bigrams of app.conversations.search_text, written with the utterances (app.db.search_index).
    # Never loaded with the row: only the search's WHERE reads it.
    search_grams: Mapped[str | None] = mapped_column(
        Text().with_variant(TSVECTOR(), "postgresql"), deferred=True
    )
    # The utterances' text joined by U+001F (a control character no text or query can hold, so a match never
    # spans two utterances): what a candidate the index found is checked against, on its own row (PostgreSQL).
    search_text: Mapped[str | None] = mapped_column(Text, deferred=True)

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
        # The supervisor queue: flagged, unreviewed, most severe then newest first (id breaks ties, so the
        # index alone yields the page order and the keyset cursor is a range of it).
        Index("ix_conversations_queue", "flagged", "review_status", "severity", "started_at", "id"),
        # Every search's order (severity, started_at, id), walked backwards when filters match many rows.
        Index("ix_conversations_order", "severity", "started_at", "id"),
        Index("ix_conversations_started_at", "started_at"),
        # sort=dissatisfaction and dissatisfaction_min= (migration 0010)
        Index("ix_conversations_dissatisfaction", "dissatisfaction", "started_at", "id"),
        # An agent's conversations in page order (auditor filter, an agent key's own view); replaces the plain
        # agent_id index.
        Index("ix_conversations_agent_order", "agent_id", "severity", "started_at", "id"),
        # These are created on PostgreSQL only (migration 0007): SQLite leaves search_grams NULL.
        *(
            Index(
                f"ix_conversations_search_grams_{level}",
                "search_grams",
                postgresql_using="gin",
                postgresql_where=text(f"severity = {level}"),
            )
            for level in range(4)  # one per severity level: pages are filled level by level
        ),
        # Recordings not yet purged, oldest first: what retention (app.retention) walks in batches.
        Index(
            "ix_conversations_audio_retention",
            "created_at",
            postgresql_where=text("audio_path IS NOT NULL AND audio_deleted_at IS NULL"),
            sqlite_where=text("audio_path IS NOT NULL AND audio_deleted_at IS NULL"),
        ),
        # Conversations the full-text index does not cover (NULL grams): checked by their text instead.
        Index(
            "ix_conversations_unindexed_text",
            "id",
            postgresql_where=text("search_grams IS NULL"),
        ),
    )


@event.listens_for(Session, "before_flush")
def _index_text(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Recompute `search_grams` of every conversation whose utterances are written in this flush.

    Done here rather than in each service that stores utterances (posts, batches, transcriptions, re-posts),
    so that no writer can forget it; a no-op on SQLite, which searches the text itself.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    from app.db.utterance import Utterance

    touched: dict[int, Conversation] = {}
    for obj in session.new:
        if isinstance(obj, Conversation):
            touched[id(obj)] = obj
        elif isinstance(obj, Utterance):
            conv = obj.conversation or session.get(Conversation, obj.conversation_id)
            if conv is not None:
                touched[id(conv)] = conv
    for obj in session.dirty:
        if isinstance(obj, Utterance) and inspect(obj).attrs.text.history.has_changes():
            touched[id(obj.conversation)] = obj.conversation
    for conv in touched.values():
        texts = [u.text for u in conv.utterances]
        found = grams(texts)
        conv.search_grams = None if found is None else tsvector_literal(found)
        conv.search_text = TEXT_SEPARATOR.join(texts)
