"""alerts: one row per alert (预警) raised by an alert rule, unique per (rule, conversation) or (rule, agent, day).

What triggered it is copied (agent, external id, matched findings), not only referenced: the alert is a
record of what was sent, and outlives a re-analysis that changes the conversation's findings.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.alerts.enums import AlertScope
from app.db.base import Base, IdMixin, StrEnumType, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.db.alert_delivery import AlertDelivery


class Alert(IdMixin, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # GET /v1/alerts: unacknowledged first, then newest.
        Index("ix_alerts_listing", "acknowledged", "created_at"),
    )

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # The de-duplication key: "<rule>|c|<conversation id>" or "<rule>|a|<agent id>|<day>". Unique, so a
    # re-analysis, a redelivered job or two processes recording at once never raise the same alert twice.
    dedup_key: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    rule: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    rule_name: Mapped[str] = mapped_column(String(200), nullable=False)
    severity: Mapped[int] = mapped_column(Integer, nullable=False)
    scope: Mapped[AlertScope] = mapped_column(StrEnumType(AlertScope, 16), nullable=False)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[str] = mapped_column(String(100), nullable=False)
    day: Mapped[str | None] = mapped_column(String(10))  # YYYY-MM-DD in AUDIT_TIMEZONE (agent_day rules)
    # When the audit that raised the alert was recorded (the conversation's analysed_at): delivery delay.
    analysed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    lexicon_version: Mapped[str | None] = mapped_column(String(32))
    acknowledged: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(100))
    acknowledged_by_role: Mapped[str | None] = mapped_column(String(16))

    deliveries: Mapped[list[AlertDelivery]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", order_by="AlertDelivery.target"
    )
