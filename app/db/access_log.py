"""access_log: one row per read of a full conversation or a recording (who, with which role, what, when).

Who is copied (key id, name, role at the time), not referenced: the log outlives renamed or revoked keys, and
conversations whose rows are deleted.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.access_log.enums import AccessKind
from app.db.base import Base, IdMixin, StrEnumType, UTCDateTime, utcnow


class AccessLogEntry(IdMixin, Base):
    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_conversation_id_read_at", "conversation_id", "read_at"),)

    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    api_key_name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    kind: Mapped[AccessKind] = mapped_column(StrEnumType(AccessKind, 32), nullable=False)
