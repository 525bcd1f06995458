"""alert_deliveries: the outbox — one row per (alert, target), with its retry state and a log of every attempt.

Written in the same transaction as the alert (and so as the audit result): an alert is sent if and only if it
was recorded. `attempts_log` holds each try (time, status code or error, duration); it is bounded by
AUDIT_ALERT_MAX_ATTEMPTS, so a JSON list on the row is enough.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.alerts.enums import DeliveryStatus, TargetKind
from app.db.base import Base, IdMixin, StrEnumType, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.db.alert import Alert


class AlertDelivery(IdMixin, Base):
    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "target", name="uq_alert_deliveries_alert_id_target"),
        # The dispatcher's question: which pending deliveries are due?
        Index("ix_alert_deliveries_due", "status", "next_attempt_at"),
    )

    alert_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    target: Mapped[str] = mapped_column(String(100), nullable=False)  # the target's name, never its URL
    kind: Mapped[TargetKind] = mapped_column(StrEnumType(TargetKind, 16), nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumType(DeliveryStatus, 16), nullable=False, default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    # Due time of the next try; while a dispatcher sends, pushed ahead as its lease.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    attempts_log: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)

    alert: Mapped[Alert] = relationship(back_populates="deliveries")
