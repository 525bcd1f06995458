"""findings: every hit (sensitive word, PII, service norm, emotion) with offsets and severity."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, IdMixin, UTCDateTime

if TYPE_CHECKING:
    from app.db.conversation import Conversation


class Finding(IdMixin, Base):
    __tablename__ = "findings"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    term: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[int] = mapped_column(Integer, nullable=False)
    utterance_index: Mapped[int | None] = mapped_column(Integer)
    start: Mapped[int | None] = mapped_column(Integer)
    end: Mapped[int | None] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(100), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    lexicon_version: Mapped[str | None] = mapped_column(String(32))
    # The rules version that produced it: a rule_versions number, or "file:<sha>" for lexicons/rules.yaml.
    rules_version: Mapped[str | None] = mapped_column(String(32))
    # Set when a supervisor overturns an appeal against it: the finding stays on record but stops counting.
    overturned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    conversation: Mapped[Conversation] = relationship(back_populates="findings")

    __table_args__ = (Index("ix_findings_search", "kind", "category", "severity"),)
