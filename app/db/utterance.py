"""utterances: masked text of each turn, with timing and emotion."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, IdMixin

if TYPE_CHECKING:
    from app.db.conversation import Conversation


class Utterance(IdMixin, Base):
    __tablename__ = "utterances"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    speaker: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)  # PII already masked
    start_ms: Mapped[int | None] = mapped_column(Integer)
    end_ms: Mapped[int | None] = mapped_column(Integer)
    emotion: Mapped[str | None] = mapped_column(String(16))
    emotion_confidence: Mapped[float | None] = mapped_column(Float)
    emotion_probs: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    conversation: Mapped[Conversation] = relationship(back_populates="utterances")

    __table_args__ = (
        UniqueConstraint("conversation_id", "index"),
        Index("ix_utterances_emotion", "emotion", "speaker", "emotion_confidence"),
        # The emotion filter's probe, one conversation at a time, from the index alone (migration 0007).
        Index(
            "ix_utterances_conversation_emotion",
            "conversation_id",
            "emotion",
            "speaker",
            "emotion_confidence",
        ),
    )
