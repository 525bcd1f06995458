"""keywords: what the customer called about, indexed by term for search."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, IdMixin

if TYPE_CHECKING:
    from app.db.conversation import Conversation


class Keyword(IdMixin, Base):
    __tablename__ = "keywords"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    term: Mapped[str] = mapped_column(String(100), nullable=False)
    weight: Mapped[float] = mapped_column(Float, nullable=False)
    speaker: Mapped[str | None] = mapped_column(String(16))  # None: whole conversation

    conversation: Mapped[Conversation] = relationship(back_populates="keywords")

    # Keyword search: a term's conversations straight from the index (migration 0007).
    __table_args__ = (Index("ix_keywords_term_conversation", "term", "conversation_id"),)
