"""The job runner of a process: Dramatiq's worker for the `asr`/`audit` queues, plus the sweeps around it.

In the embedded default (`audit serve`, no broker) it runs the tasks in the service process on Dramatiq's
in-process broker, fed from the job rows; with Redis it runs in `audit worker` processes, and the API
process only sweeps (requeues jobs whose worker died, re-sends what a crash left unsent) and runs no task.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.session import session_scope
from app.jobs import lifecycle, repository
from app.jobs.enums import JobStatus
from app.jobs.queue import QUEUES, JobQueue
from app.jobs.tasks import TaskContext
from app.jobs.workers import Registration, new_worker_id
from app.retention import service as retention
from app.runtime import AuditRuntime
from pipelines.asr import Transcriber

log = logging.getLogger(__name__)
_PURGE_EVERY_S = 3600.0


class JobRunner:
    """This process's part in running jobs: `start` (consume and sweep), `start_sweeper` (API-only node)."""

    def __init__(
        self,
        *,
        factory: sessionmaker[Session],
        runtime: AuditRuntime,
        queue: JobQueue | None = None,
        queues: Sequence[str] = QUEUES,
        concurrency: int | None = None,
    ) -> None:
        self.factory = factory
        self.runtime = runtime
        self.settings = runtime.settings
        self.queue = queue or JobQueue(self.settings)
        self.queues = tuple(queues)
        self.concurrency = concurrency or self.settings.workers
        self.worker_id = new_worker_id()
        self.context = TaskContext(factory=factory, runtime=runtime, worker_id=self.worker_id)
        self.queue.bind(self.context)
        self.registration = Registration(
            factory,
            settings=self.settings,
            worker_id=self.worker_id,
            queues=self.queues,
            concurrency=self.concurrency,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._registered = False
        # Conversations left `received` before this process started are nobody's in-flight request.
        self._started_at = utcnow()

    def transcriber(self) -> Transcriber:
        """The process's Whisper transcriber (loaded on first use)."""
        return self.context.transcriber()

    def preload_whisper(self) -> None:
        """Load Whisper now (an `asr` worker), not with its first message."""
        self.transcriber()

    # --- sweeps: the job rows are the durable record, the broker's messages are sent again from them ---

    def recover(self) -> int:
        """Requeue (or fail) jobs whose worker is gone and send what they need; returns the jobs recovered."""
        outcome = lifecycle.recover(self.factory, settings=self.settings)
        for job_id, status in outcome:
            self._dispatch(job_id, status)
        return len(outcome)

    def _dispatch(self, job_id: uuid.UUID, status: JobStatus) -> None:
        if status == JobStatus.QUEUED:
            self.queue.send_transcription(job_id)
        elif status == JobStatus.AUDITING:
            with session_scope(self.factory, read_only=True) as s:
                job = repository.get(s, job_id=job_id)
                attempt = job.attempts if job is not None else None
            if attempt is not None:
                self.queue.send_audit(job_id, attempt)

    def feed(self) -> int:
        """Send every queued job: with the in-process broker those it does not hold yet; with Redis all of
        them (an API node's start-up: a message lost with Redis's data, or never sent because a process
        died right after its commit; a duplicate finds its job taken and does nothing)."""
        with session_scope(self.factory, read_only=True) as s:
            ids = repository.queued_ids(s)
        return sum(1 for job_id in ids if self.queue.send_transcription(job_id))

    def recover_received(self, *, at_start: bool) -> int:
        """Audit conversations left `received`: at start-up all older than this process, later the stale ones."""
        if at_start:
            before = self._started_at
        else:
            before = utcnow() - timedelta(seconds=self.settings.job_stale_seconds)
        return lifecycle.recover_received(
            self.factory, runtime=self.runtime, updated_before=before, should_stop=self._stop.is_set
        )

    def purge_audio(self) -> int:
        """Apply the retention policies in short batches (app.retention); returns the recordings deleted."""
        return retention.purge_expired(self.factory, settings=self.settings, should_stop=self._stop.is_set)

    def sweep(self) -> None:
        """Recover jobs of dead workers and send queued jobs the broker lacks (with Redis: those whose send
        failed here; resending every queued row would pile duplicates onto a backlog)."""
        self.recover()
        if self.queue.local:
            self.feed()
        else:
            self.queue.resend_unsent()

    # --- running ---

    def run_pending(self) -> list[str]:
        """Recover, then run every queued job in this process until none is left; their final statuses
        (CLI `audit worker --once`, tests)."""
        self._register()
        self.recover()
        self.recover_received(at_start=True)
        self.feed()
        start = len(self.queue.outcomes)
        self.queue.drain()
        return [status.value for status in self.queue.outcomes[start:]]

    def start(self) -> None:
        """Consume the queues in this process and sweep in the background (start-up is not held up)."""
        self._register()
        self.start_recovery()
        self.queue.start_worker(queues=self.queues, concurrency=self.concurrency)
        self._spawn("audit-job-sweeper", lambda: self._sweep_loop(feed_at_start=self.queue.local))

    def start_sweeper(self) -> None:
        """API-only node with a broker: sweep (requeue jobs of dead workers, resend lost messages), run none."""
        self._spawn("audit-job-sweeper", lambda: self._sweep_loop(feed_at_start=True))

    def start_recovery(self) -> None:
        """Audit, in a background thread, the conversations a killed process left `received`."""

        def run() -> None:
            try:
                self.recover_received(at_start=True)
            except Exception:  # the periodic sweep of a worker, or a re-post, tries again
                log.exception("start-up audit of conversations left received failed")

        self._spawn("audit-recovery", run)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop consuming and sweeping; running tasks get `timeout` to finish (a killed process leaves them
        to the next start-up or, with Redis, to the other workers)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.queue.stop_worker(timeout)
        if self._registered:
            self.registration.stop()
        self.queue.close()

    def _register(self) -> None:
        if not self._registered:
            self.registration.start()
            self._registered = True

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _sweep_loop(self, *, feed_at_start: bool) -> None:
        try:
            self.sweep()
            if feed_at_start and not self.queue.local:
                self.feed()
            self.purge_audio()
        except Exception:  # the next sweep tries again
            log.exception("start-up recovery of jobs failed")
        last_purge = last_sweep = last_feed = time.monotonic()
        # Dead workers are noticed within worker_dead_after_seconds; received audits within job_stale_seconds.
        sweep_every = min(self.settings.worker_dead_after_seconds, self.settings.job_stale_seconds) / 2
        while not self._stop.wait(self.settings.job_poll_seconds):
            try:
                now = time.monotonic()
                if now - last_purge > _PURGE_EVERY_S:
                    last_purge = now
                    self.purge_audio()
                if now - last_sweep > sweep_every:
                    last_sweep = now
                    self.sweep()
                    self.recover_received(at_start=False)
                elif (
                    self.queue.local and self._registered and now - last_feed > self.settings.job_poll_seconds
                ):
                    # In-process broker: rows another process (an API without a worker) queued reach us here.
                    last_feed = now
                    self.feed()
            except Exception:
                log.exception("job sweep failed")
