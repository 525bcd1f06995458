"""The job runner: a bounded pool of worker threads in the service process (or `audit worker` elsewhere)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import cache
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.session import session_scope
from app.jobs import lifecycle, service
from app.jobs.enums import JobStatus
from app.runtime import AuditRuntime
from pipelines.asr import TranscribeOptions, Transcriber

log = logging.getLogger(__name__)
_PURGE_EVERY_S = 3600.0


@cache
def _whisper(model_dir: Path, compute_type: str, threads: int) -> Transcriber:
    from models.whisper import load_whisper

    # Loaded on the first job, once per process: services that never get audio never pay for it.
    return Transcriber(
        # Word timestamps locate spoken personal data for audio redaction (app.audio.redaction).
        load_whisper(model_dir, compute_type=compute_type, cpu_threads=threads),
        TranscribeOptions(word_timestamps=True),
    )


class JobRunner:
    """Claims queued jobs and runs them, at most `workers` at a time; recovers jobs orphaned by a crash."""

    def __init__(self, *, factory: sessionmaker[Session], runtime: AuditRuntime) -> None:
        self.factory = factory
        self.runtime = runtime
        self.settings = runtime.settings
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._slots = threading.Semaphore(self.settings.workers)
        self._pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="audit-job")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recovery: threading.Thread | None = None
        self._load_lock = threading.Lock()
        # Conversations left `received` before this process started are nobody's in-flight request.
        self._started_at = utcnow()

    def transcriber(self) -> Transcriber:
        """The process's Whisper transcriber (loaded on first use)."""
        s = self.settings
        assert s.whisper_model_dir is not None
        with self._load_lock:
            return _whisper(s.whisper_model_dir, s.whisper_compute_type, s.whisper_threads)

    def recover(self) -> int:
        """Requeue (or fail) jobs whose worker died and send callbacks left unsent; returns the jobs recovered."""
        return len(lifecycle.recover(self.factory, settings=self.settings))

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
        """Apply the audio retention policy."""
        with session_scope(self.factory) as s:
            return service.purge_expired_audio(s, settings=self.settings)

    def _claim(self) -> uuid.UUID | None:
        with session_scope(self.factory) as s:
            job = lifecycle.claim(s, worker_id=self.worker_id)
            return job.id if job else None

    def run_job(self, job_id: uuid.UUID) -> JobStatus:
        """Process one claimed job to its next state."""
        try:
            return service.process_job(
                self.factory, runtime=self.runtime, transcriber=self.transcriber(), job_id=job_id
            )
        except Exception as exc:  # e.g. the model cannot load: the job must not stay 'transcribing'
            log.exception("job %s crashed", job_id)
            return lifecycle.fail_job(
                self.factory, settings=self.settings, job_id=job_id, error=f"worker error: {exc}", retry=True
            )

    def run_pending(self) -> list[JobStatus]:
        """Recover, then run queued jobs in this thread until none is left (CLI `audit worker --once`, tests)."""
        self.recover()
        self.recover_received(at_start=True)
        outcomes = []
        while (job_id := self._claim()) is not None:
            outcomes.append(self.run_job(job_id))
        return outcomes

    def start(self) -> None:
        """Start polling for jobs, and the start-up recovery, in the background (start-up is not held up)."""
        self.start_recovery()
        self._thread = threading.Thread(target=self._loop, name="audit-job-poller", daemon=True)
        self._thread.start()

    def start_recovery(self) -> None:
        """Audit, in a background thread, the conversations a killed process left `received`."""

        def run() -> None:
            try:
                self.recover_received(at_start=True)
            except Exception:  # the periodic sweep of a worker, or a re-post, tries again
                log.exception("start-up audit of conversations left received failed")

        self._recovery = threading.Thread(target=run, name="audit-recovery", daemon=True)
        self._recovery.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; running jobs finish (a killed process leaves them for recovery)."""
        self._stop.set()
        for thread in (self._thread, self._recovery):
            if thread is not None:
                thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _loop(self) -> None:
        try:
            self.recover()
            self.purge_audio()
        except Exception:  # the periodic sweep tries again
            log.exception("start-up recovery of jobs failed")
        last_purge = last_sweep = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_purge > _PURGE_EVERY_S:
                    last_purge = time.monotonic()
                    self.purge_audio()
                # Workers elsewhere may die too: their jobs (and audits) are stale after job_stale_seconds.
                if time.monotonic() - last_sweep > self.settings.job_stale_seconds:
                    last_sweep = time.monotonic()
                    self.recover()
                    self.recover_received(at_start=False)
                if not self._slots.acquire(timeout=self.settings.job_poll_seconds):
                    continue
                job_id = self._claim()
                if job_id is None:
                    self._slots.release()
                    self._stop.wait(self.settings.job_poll_seconds)
                    continue
                future = self._pool.submit(self.run_job, job_id)
                future.add_done_callback(lambda _f: self._slots.release())
            except Exception:
                log.exception("job poller error")
                self._stop.wait(self.settings.job_poll_seconds)
