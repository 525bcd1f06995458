"""workers: one row per job-running process (`audit worker`, or `audit serve` in the embedded default).

A row's heartbeat says the process is alive: admins see it in the detailed health, and a redelivered task
may take a job over only from a worker whose heartbeat stopped.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, IdMixin, UTCDateTime, utcnow


class Worker(IdMixin, Base):
    __tablename__ = "workers"

    # hostname:pid:random, as written into jobs.worker_id
    worker_id: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    hostname: Mapped[str] = mapped_column(String(255), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    queues: Mapped[str] = mapped_column(String(100), nullable=False)  # comma-separated: asr,audit
    concurrency: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
