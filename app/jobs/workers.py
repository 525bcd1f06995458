"""The registry of job-running processes: each writes a heartbeat row; admins and takeovers read it.

A job's `worker_id` names the process that holds it. A redelivered task may take the job over only when
that holder is gone: its process on this host no longer exists, its heartbeat row stopped, or (a holder
that never registered) the job's own heartbeat went stale.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db import Job, Worker
from app.db.base import utcnow
from app.db.session import session_scope
from app.settings import Settings

log = logging.getLogger(__name__)


class Holder(StrEnum):
    """What is known of the process holding a running job."""

    ALIVE = "alive"
    SUSPECT = "suspect"  # heartbeat late but not yet dead: ask again later
    GONE = "gone"


def new_worker_id() -> str:
    """hostname:pid:random — the pid lets this host's next process see at once that the holder died."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_local_process(worker_id: str | None) -> bool:
    """True when `worker_id` names a process of this host, other than this one, that no longer exists."""
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    return (
        host == socket.gethostname()
        and pid.isdigit()
        and int(pid) != os.getpid()
        and not _pid_alive(int(pid))
    )


def holder_state(session: Session, job: Job, *, settings: Settings, now: datetime) -> Holder:
    """Whether the process holding a running job is alive, late or gone.

    A job nobody holds (a transcript whose audit was sent again) waits for an audit worker: it is given up
    on only when its heartbeat is `job_stale_seconds` old.
    """
    if job.worker_id is not None and dead_local_process(job.worker_id):
        return Holder.GONE
    row = session.scalar(select(Worker).where(Worker.worker_id == job.worker_id))
    if row is None:  # nobody, or never registered (an older version): only the job's own heartbeat tells
        stale = job.heartbeat_at is None or now - job.heartbeat_at > timedelta(
            seconds=settings.job_stale_seconds
        )
        return Holder.GONE if stale else Holder.ALIVE
    silent = now - row.heartbeat_at
    if silent > timedelta(seconds=settings.worker_dead_after_seconds):
        return Holder.GONE
    if silent > timedelta(seconds=2 * settings.worker_heartbeat_seconds):
        return Holder.SUSPECT
    return Holder.ALIVE


def live_workers(session: Session, *, settings: Settings) -> Sequence[Worker]:
    """Registered workers whose heartbeat is recent, most recently started first."""
    since = utcnow() - timedelta(seconds=settings.worker_dead_after_seconds)
    return session.scalars(
        select(Worker).where(Worker.heartbeat_at >= since).order_by(Worker.started_at.desc())
    ).all()


class Registration:
    """This process's row: written at start, refreshed by a daemon thread, deleted at a clean stop."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        settings: Settings,
        worker_id: str,
        queues: Sequence[str],
        concurrency: int,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.worker_id = worker_id
        self.queues = ",".join(queues)
        self.concurrency = concurrency
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Write the heartbeat now (insert the row the first time)."""
        with session_scope(self.factory) as s:
            now = utcnow()
            found = s.execute(
                update(Worker)
                .where(Worker.worker_id == self.worker_id)
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if found.rowcount == 0:  # type: ignore[attr-defined]
                s.add(
                    Worker(
                        worker_id=self.worker_id,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        queues=self.queues,
                        concurrency=self.concurrency,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )

    def start(self) -> None:
        """Register and keep the heartbeat going in the background."""
        self.beat()
        self._thread = threading.Thread(target=self._loop, name="audit-worker-heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.worker_heartbeat_seconds):
            try:
                self.beat()
            except Exception:  # the database is away for a moment: the next beat tries again
                log.warning("worker heartbeat failed", exc_info=True)

    def stop(self) -> None:
        """Stop beating and remove the row (a killed process leaves it to go stale)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        try:
            with session_scope(self.factory) as s:
                s.execute(delete(Worker).where(Worker.worker_id == self.worker_id))
                # Rows of workers dead for a day are of no use to anyone.
                s.execute(delete(Worker).where(Worker.heartbeat_at < utcnow() - timedelta(days=1)))
        except Exception:
            log.warning("could not remove worker row %s", self.worker_id, exc_info=True)
