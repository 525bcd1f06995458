"""What the two queues' tasks do to a job: `asr` transcribes, masks and redacts; `audit` runs the text stages.

Every task is idempotent. State changes go through `app.jobs.lifecycle` under the job's row lock, fenced by
the job's attempt number: a redelivered or duplicated task finds its job taken, handed on or ended and does
nothing; results are written by replacing a conversation's rows, never by appending to them; callbacks are
sent once (`lifecycle.deliver_callback`). Failures are recorded on the job and its conversation, never lost.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.audio.exceptions import AudioUnreadable
from app.audio.redaction import RedactedRecording, apply_redaction, finish_redaction, redact_recording
from app.audio.store import AudioStore
from app.conversations import repository as conversations
from app.conversations.audit import audit_and_record, stored_text
from app.db import Conversation, Finding, Utterance
from app.db.session import session_scope
from app.jobs import lifecycle, repository
from app.jobs.enums import JobStatus
from app.metrics import jobs as metrics
from app.runtime import AuditRuntime
from app.settings import Settings
from pipelines import types as pt
from pipelines.asr import AudioDecodeError, LayoutError, TranscribeOptions, Transcriber
from pipelines.audit import mask_conversation
from pipelines.redact import mask_digit_runs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Step:
    """A task's outcome: the job's status now; `audit` the attempt whose audit is to be sent; `retry` later."""

    status: JobStatus | None
    audit: int | None = None
    retry: bool = False


@cache
def _whisper(model_dir: Path, device: str, compute_type: str, threads: int, batch_size: int) -> Transcriber:
    from models.whisper import load_whisper

    # Loaded on the first transcription, once per process: API-only nodes and audit workers never pay for it.
    return Transcriber(
        # Word timestamps locate spoken personal data for audio redaction (app.audio.redaction).
        load_whisper(model_dir, compute_type=compute_type, cpu_threads=threads, device=device),
        TranscribeOptions(word_timestamps=True, batched=batch_size > 0, batch_size=max(batch_size, 1)),
    )


class TaskContext:
    """What a job-running process holds: database, models, and its worker id (the holder of its jobs)."""

    def __init__(self, *, factory: sessionmaker[Session], runtime: AuditRuntime, worker_id: str) -> None:
        self.factory = factory
        self.runtime = runtime
        self.settings: Settings = runtime.settings
        self.worker_id = worker_id
        self._load_lock = threading.Lock()

    def transcriber(self) -> Transcriber:
        """The process's Whisper (AUDIT_WHISPER_DEVICE: int8 on CPU, float16 on a GPU), loaded on first use."""
        s = self.settings
        assert s.whisper_model_dir is not None
        with self._load_lock:
            return _whisper(
                s.whisper_model_dir,
                s.whisper_device,
                s.whisper_compute_type,
                s.whisper_threads,
                s.asr_batch_size,
            )

    def fail(self, job_id: uuid.UUID, error: str, *, retry: bool, attempt: int | None = None) -> Step:
        """Record a failure of `attempt` (queued again while attempts are left); the callback if it ended."""
        status = lifecycle.fail_job(
            self.factory, settings=self.settings, job_id=job_id, error=error, retry=retry, attempt=attempt
        )
        return Step(status, retry=status == JobStatus.QUEUED)


class _Progress:
    """Writes transcription progress to the job row at most once a second (its own short transactions)."""

    def __init__(self, ctx: TaskContext, job_id: uuid.UUID) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        with session_scope(self.ctx.factory) as s:
            lifecycle.heartbeat(
                s,
                job_id=self.job_id,
                status=JobStatus.TRANSCRIBING,
                progress=min(fraction, 0.99),
                worker_id=self.ctx.worker_id,
            )


def transcribe_job(ctx: TaskContext, job_id: uuid.UUID, *, running_here: Callable[[uuid.UUID], bool]) -> Step:
    """The `asr` task: claim, transcribe, mask, redact, store the masked transcript, hand on to `audit`."""
    with session_scope(ctx.factory) as s:
        claim = lifecycle.claim_job(
            s,
            job_id=job_id,
            worker_id=ctx.worker_id,
            settings=ctx.settings,
            running_here=running_here(job_id),
        )
    if claim.action == "skip":
        return Step(None)
    if claim.action == "later":
        return Step(None, retry=True)
    if claim.action == "ended":
        lifecycle.deliver_callback(ctx.factory, settings=ctx.settings, job_id=job_id)
        return Step(JobStatus.FAILED)
    if claim.action == "audit":
        return Step(JobStatus.AUDITING, audit=claim.attempt)
    attempt = claim.attempt
    with session_scope(ctx.factory, read_only=True) as s:
        job = repository.get(s, job_id=job_id)
        assert job is not None
        conv = conversations.get(s, conversation_id=job.conversation_id)
        assert conv is not None
        options = json.loads(job.options or "{}")
        audio_path, channel = Path(conv.audio_path or ""), conv.channel
    if not conv.audio_path:
        return ctx.fail(
            job_id, "the conversation has no recording to transcribe", retry=False, attempt=attempt
        )
    settings = ctx.settings
    try:
        transcriber = ctx.transcriber()
        started = time.perf_counter()
        with AudioStore(settings).open_plain(audio_path) as plain:  # decrypted copy, deleted right after
            transcript = transcriber.transcribe(
                plain, layout=options.get("channel_layout", "mono"), progress=_Progress(ctx, job_id)
            )
        metrics.observe_transcription(time.perf_counter() - started, audio_seconds=transcript.duration_s)
    except (AudioDecodeError, LayoutError, AudioUnreadable) as exc:
        return ctx.fail(job_id, f"audio could not be decoded: {exc}", retry=False, attempt=attempt)
    except Exception as exc:
        log.exception("transcription failed for job %s", job_id)
        return ctx.fail(
            job_id, f"transcription failed: {type(exc).__name__}: {exc}", retry=True, attempt=attempt
        )
    if not transcript.utterances:
        # Noise, silence or a cut recording: nothing to audit, and a score of 100 would claim a perfect call.
        return ctx.fail(job_id, lifecycle.NO_SPEECH, retry=False, attempt=attempt)

    masker = ctx.runtime.pipeline.stages.masker
    raw = pt.Conversation(channel, tuple(transcript.utterances))  # type: ignore[arg-type]  # a stored channel
    masked, pii = mask_conversation(masker, raw)
    # Runs of digits the masker let through (a misheard number) are silenced in the recording: masked here too.
    masked, digit_runs = mask_digit_runs(masked, settings.redaction_min_digit_run)
    pii = [*pii, *digit_runs]
    try:  # spoken PII silenced before the transcript is stored: the stored recording is never less private
        redacted = redact_recording(
            settings,
            masker=masker,
            transcript=transcript,
            audio_path=audio_path,
            transcriber=transcriber if settings.redaction_second_look else None,
        )
    except Exception as exc:
        log.exception("redaction failed for job %s", job_id)
        return ctx.fail(job_id, f"redaction failed: {type(exc).__name__}: {exc}", retry=True, attempt=attempt)
    with session_scope(ctx.factory) as s:
        held = lifecycle.hand_off(s, job_id=job_id, attempt=attempt, worker_id=ctx.worker_id)
        if held is not None:
            _store_transcript(s, held[1], masked=masked, pii=pii, lexicon_version=ctx.runtime.lexicon_version)
            apply_redaction(held[1], result=redacted, settings=settings)
            held[1].audio_duration_s = transcript.duration_s
    if held is None:  # no longer ours: the redacted copy we wrote is nobody's
        _discard(settings, redacted)
        return Step(None)
    finish_redaction(settings, result=redacted)
    return Step(JobStatus.AUDITING, audit=attempt)


def _store_transcript(
    session: Session,
    conv: Conversation,
    *,
    masked: pt.Conversation,
    pii: list[pt.Finding],
    lexicon_version: str,
) -> None:
    """Replace the conversation's utterances and findings with this transcript's (a retry never adds rows)."""
    conv.utterances, conv.findings, conv.keywords = [], [], []
    session.flush()  # the old rows go before the new ones take their (conversation, index) keys
    conv.utterances = [
        Utterance(index=u.index, speaker=u.speaker, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms)
        for u in masked.utterances
    ]
    # The masking's findings: the raw text is never stored, so the audit task cannot recompute them.
    conv.findings = [
        Finding(
            position=i,
            kind=f.kind,
            category=f.category,
            term=f.term,
            severity=int(f.severity),
            utterance_index=f.utterance_index,
            start=f.start,
            end=f.end,
            rule=f.rule,
            detail=f.detail,
            lexicon_version=lexicon_version,
        )
        for i, f in enumerate(pii)
    ]
    session.flush()


def _discard(settings: Settings, redacted: RedactedRecording) -> None:
    if redacted.redacted is not None:
        AudioStore(settings).delete(redacted.redacted)


def audit_job(ctx: TaskContext, job_id: uuid.UUID, attempt: int) -> Step:
    """The `audit` task: run the text stages over the stored transcript, record the result, end the job."""
    with session_scope(ctx.factory) as s:
        if not lifecycle.take_audit(s, job_id=job_id, attempt=attempt, worker_id=ctx.worker_id):
            return Step(None)
        job = repository.get(s, job_id=job_id)
        assert job is not None
        conversation_id = job.conversation_id
    # A plain session: the model runs outside any transaction, the result is recorded in a short one.
    with ctx.factory() as s:
        conv = s.get(Conversation, conversation_id)
        assert conv is not None
        if not conv.utterances:  # handed on by an older version, which kept the transcript in memory
            return ctx.fail(job_id, "the transcript was lost before its audit", retry=True)
        pii = [_pipeline_finding(f) for f in conv.findings if f.kind == "pii"]
        started = time.perf_counter()
        audit_and_record(s, runtime=ctx.runtime, items=[(conv, stored_text(conv), pii)])
        metrics.MODEL_LATENCY.labels(model="audit").observe(time.perf_counter() - started)
    with session_scope(ctx.factory) as s:
        held = lifecycle.audit_to_record(s, job_id=job_id, attempt=attempt)
        status = lifecycle.complete(*held) if held is not None else None
    if status is not None:
        lifecycle.deliver_callback(ctx.factory, settings=ctx.settings, job_id=job_id)
    return Step(status)


def _pipeline_finding(row: Finding) -> pt.Finding:
    return pt.Finding(
        kind=row.kind,  # type: ignore[arg-type]  # stored from a pt.Finding
        category=row.category,
        severity=pt.Severity(row.severity),
        rule=row.rule,
        term=row.term,
        utterance_index=row.utterance_index,
        start=row.start,
        end=row.end,
        detail=row.detail,
    )
