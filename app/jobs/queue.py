"""Jobs on Dramatiq: its Redis broker when `AUDIT_BROKER_URL` is set, else its in-process broker.

Two queues: `asr` (transcription; Whisper loaded once per worker process) and `audit` (the text stages of a
transcribed recording). A message carries only a job id (and, for `audit`, the attempt it belongs to): the
job row is the durable record, so a message lost with an in-process broker, or never sent because the
process died right after the commit, is sent again from the row (`JobRunner.feed`, `JobRunner.recover`).

With Redis, a message is acknowledged only after its task returned (Dramatiq acknowledges late by
design); a worker process that dies holding messages stops heart-beating and Redis gives its messages to
the others after `AUDIT_BROKER_HEARTBEAT_TIMEOUT_SECONDS`. Retries with exponential backoff come from
Dramatiq's `Retries` middleware; the job row counts attempts and fails the job for good when they run out.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries, TimeLimit
from dramatiq.threading import Interrupt
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.jobs import tasks
from app.jobs.enums import TERMINAL, JobStatus
from app.metrics import jobs as metrics
from app.settings import Settings

log = logging.getLogger(__name__)

ASR, AUDIT = "asr", "audit"
QUEUES = (ASR, AUDIT)
NAMESPACE = "audit"


class RetryJob(Exception):  # noqa: N818 - reads as what it asks for
    """Raised by a task to have Dramatiq deliver its message again after the backoff."""


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def make_broker(settings: Settings) -> dramatiq.Broker:
    """Redis when a broker URL is configured, else Dramatiq's in-process broker; our middleware on either."""
    # Retries only what asks for it: every other failure is already recorded on the job by the task.
    limit = 3 * settings.job_max_attempts + 10
    middleware = [
        TimeLimit(time_limit=_ms(settings.job_time_limit_seconds)),
        Retries(
            min_backoff=_ms(settings.job_retry_min_backoff_seconds),
            max_backoff=_ms(settings.job_retry_max_backoff_seconds),
            retry_when=lambda retries, exc: isinstance(exc, RetryJob) and retries < limit,
        ),
    ]
    if not settings.broker_url:
        return StubBroker(middleware=middleware)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.broker_url,
        namespace=NAMESPACE,
        middleware=middleware,
        heartbeat_timeout=_ms(settings.broker_heartbeat_timeout_seconds),
        maintenance_chance=settings.broker_maintenance_per_million,
    )


class JobQueue:
    """The broker and the two actors of one process; tasks run only once `bind` gave it a TaskContext."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker = make_broker(settings)
        self.local = not settings.broker_url
        self._ctx: tasks.TaskContext | None = None
        self._lock = threading.Lock()
        # In-process broker: jobs with a message in it (the row need not be sent again), and jobs running.
        self._pending: set[uuid.UUID] = set()
        self.running: Counter[uuid.UUID] = Counter()  # tasks running here, per job
        self._unsent: set[uuid.UUID] = set()  # committed, but the broker was away when they were sent
        self.outcomes: list[JobStatus] = []  # final statuses reached here, for `run_pending`
        self._worker: dramatiq.Worker | None = None
        self._booted = False
        self.transcribe = dramatiq.Actor(
            self._transcribe,
            broker=self.broker,
            actor_name="transcribe",
            queue_name=ASR,
            priority=0,
            options={},
        )
        self.audit = dramatiq.Actor(
            self._audit, broker=self.broker, actor_name="audit", queue_name=AUDIT, priority=0, options={}
        )

    def bind(self, ctx: tasks.TaskContext) -> None:
        """Let this process run tasks with these database, models and worker id."""
        self._ctx = ctx

    # --- sending ---

    def send_transcription(self, job_id: uuid.UUID) -> bool:
        """Queue a job's transcription; with the in-process broker, not if a message is already there."""
        with self._lock:
            if self.local and job_id in self._pending:
                return False
            self._pending.add(job_id)
        self.transcribe.send(str(job_id))
        return True

    def send_audit(self, job_id: uuid.UUID, attempt: int) -> None:
        """Queue the audit of a transcribed job (`attempt` fences out stale deliveries)."""
        with self._lock:
            self._pending.add(job_id)
        self.audit.send(str(job_id), attempt)

    def send_after_commit(self, session: Session, job_id: uuid.UUID) -> None:
        """Queue the transcription once the session commits the job row (never a message for a rolled-back one)."""

        def send(_session: Session) -> None:
            try:
                self.send_transcription(job_id)
            except Exception:  # the broker is away: the row stays queued, the sweep sends it later
                log.exception("could not queue job %s; the next sweep sends it", job_id)
                with self._lock:
                    self._pending.discard(job_id)
                    self._unsent.add(job_id)

        event.listen(session, "after_commit", send, once=True)

    def resend_unsent(self) -> int:
        """Send what could not be sent after its commit (the broker was away); returns how many went."""
        with self._lock:
            unsent, self._unsent = self._unsent, set()
        sent = 0
        for job_id in unsent:
            try:
                self.send_transcription(job_id)
                sent += 1
            except Exception:
                with self._lock:
                    self._pending.discard(job_id)
                    self._unsent.add(job_id)
        return sent

    def pending(self) -> set[uuid.UUID]:
        """Jobs with a message in the in-process broker."""
        with self._lock:
            return set(self._pending)

    def depth(self) -> dict[str, int]:
        """Messages per queue not yet acknowledged (waiting, delayed for a retry, or being worked on)."""
        if isinstance(self.broker, StubBroker):
            return {
                q: self.broker.queues[q].unfinished_tasks + self.broker.queues[f"{q}.DQ"].unfinished_tasks
                for q in QUEUES
            }
        client: Any = self.broker.client  # type: ignore[attr-defined]
        return {
            q: int(client.hlen(f"{NAMESPACE}:{q}.msgs")) + int(client.hlen(f"{NAMESPACE}:{q}.DQ.msgs"))
            for q in QUEUES
        }

    # --- running ---

    def start_worker(self, *, queues: Iterable[str] = QUEUES, concurrency: int) -> None:
        """Consume `queues` with `concurrency` threads in this process (Dramatiq's Worker)."""
        if self._worker is not None:
            return
        if not self._booted:  # what the dramatiq CLI does at process start: the time-limit thread begins
            self.broker.emit_after("process_boot")
            self._booted = True
        worker = dramatiq.Worker(self.broker, queues=set(queues), worker_threads=concurrency)
        # One message per thread: a busy worker does not sit on messages an idle one could take.
        worker.queue_prefetch = concurrency
        worker.start()
        self._worker = worker

    def drain(self) -> None:
        """Run until every queue is empty (in-process broker: what `run_pending` and `--once` wait for)."""
        temporary = self._worker is None
        self.start_worker(concurrency=1)
        assert self._worker is not None
        for _ in range(3):  # an asr task queues an audit task, which may queue a retry
            for queue in QUEUES:
                if isinstance(self.broker, StubBroker):
                    self.broker.join(queue, fail_fast=False)
                else:
                    self.broker.join(queue)
            self._worker.join()
        if temporary:
            self.stop_worker()

    def stop_worker(self, timeout_s: float = 30.0) -> None:
        """Stop consuming; running tasks get `timeout_s` to finish (a killed process leaves them to Redis)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=_ms(timeout_s))

    def close(self) -> None:
        """Stop the worker and close the broker's connections."""
        self.stop_worker()
        self.broker.close()

    # --- the actors ---

    def _context(self) -> tasks.TaskContext:
        if self._ctx is None:
            raise RuntimeError("this process runs no jobs (no TaskContext bound)")
        return self._ctx

    def _transcribe(self, job_id: str) -> None:
        ctx, ident = self._context(), uuid.UUID(job_id)
        self._run(ASR, ident, lambda: tasks.transcribe_job(ctx, ident, running_here=self._is_running))

    def _audit(self, job_id: str, attempt: int) -> None:
        ctx, ident = self._context(), uuid.UUID(job_id)
        self._run(AUDIT, ident, lambda: tasks.audit_job(ctx, ident, attempt))

    def _is_running(self, job_id: uuid.UUID) -> bool:
        """Whether another thread of this process works on the job (the caller's own task counts once)."""
        with self._lock:
            return self.running[job_id] > 1

    def _run(self, queue: str, job_id: uuid.UUID, task: Callable[[], tasks.Step]) -> None:
        ctx = self._context()
        with self._lock:
            self.running[job_id] += 1
        try:
            step = task()
        except Interrupt:  # Dramatiq's time limit: longer than any call may take, so not worth a retry
            limit = self.settings.job_time_limit_seconds
            step = ctx.fail(job_id, f"time limit of {limit:.0f} s exceeded", retry=False)
        except Exception as exc:  # e.g. the database went away mid-task: the job goes back to the queue
            log.exception("%s task of job %s crashed", queue, job_id)
            step = ctx.fail(job_id, f"worker error: {type(exc).__name__}: {exc}", retry=True)
        finally:
            with self._lock:
                self.running[job_id] -= 1
                if self.running[job_id] <= 0:
                    del self.running[job_id]
        outcome = step.status.value if step.status is not None else "skipped"
        metrics.TASKS.labels(queue=queue, outcome="retry" if step.retry else outcome).inc()
        with self._lock:
            if step.status in TERMINAL:
                self.outcomes.append(step.status)
            if not step.retry and step.audit is None:
                self._pending.discard(job_id)
        if step.audit is not None:
            self.send_audit(job_id, step.audit)
        if step.retry:
            raise RetryJob(f"job {job_id}: {queue} task asks to be delivered again")
