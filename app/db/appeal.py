"""appeals: an agent contests one finding (申诉); a supervisor upholds or overturns it. The row is the history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.appeals.enums import AppealStatus
from app.db.base import Base, IdMixin, StrEnumType, UTCDateTime, utcnow
from app.privacy import mask_optional


class Appeal(IdMixin, Base):
    __tablename__ = "appeals"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # Re-analysis replaces a conversation's findings: the appeal is re-pointed at the matching new finding
    # (app.appeals.carry); when none matches, it keeps its history with finding_id NULL and the snapshot.
    finding_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("findings.id", ondelete="SET NULL"), index=True
    )
    # What was contested (kind, category, term, rule, utterance_index, start, end, severity), as filed.
    finding_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Copied from the conversation: reports and the agent's own list filter on it without a join.
    agent_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[AppealStatus] = mapped_column(
        StrEnumType(AppealStatus, 16), nullable=False, default=AppealStatus.OPEN
    )
    created_by: Mapped[str] = mapped_column(String(100), nullable=False)  # the caller's name (key or user)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_appeals_status_created_at", "status", "created_at"),
        # One open appeal per finding, held by the database: two agents filing at once cannot both succeed.
        Index(
            "uq_appeals_open_finding",
            "finding_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    @validates("reason", "decision_note")
    def _mask_text(self, _key: str, value: str | None) -> str | None:
        # Free text a person types may carry a customer's phone or ID number: stored masked, whoever writes it.
        return mask_optional(value)
