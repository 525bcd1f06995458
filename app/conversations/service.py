"""Conversation use cases: store first, then audit; a failed audit is recorded, never lost."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.conversations import repository
from app.conversations.repository import ConversationFilters
from app.conversations.schemas import (
    MAX_BATCH,
    BatchItemResult,
    BatchResult,
    ConversationCreate,
)
from app.db import Conversation, Finding, Keyword, Utterance
from app.db.base import utcnow
from app.errors import AppError, Conflict, NotFound, PayloadTooLarge
from app.runtime import AuditRuntime
from pipelines import types as pt
from pipelines.audit import mask_conversation

log = logging.getLogger(__name__)
_create_adapter = TypeAdapter(ConversationCreate)


def payload_sha256(payload: ConversationCreate) -> str:
    """Fingerprint of a posted transcript, to tell an idempotent re-post from a conflicting one."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing_or_conflict(conv: Conversation, digest: str) -> Conversation:
    if conv.payload_sha256 != digest:
        raise Conflict(
            f"external_id {conv.external_id!r} was already posted with different content",
            details={"id": str(conv.id)},
        )
    return conv


def create_conversation(
    session: Session, *, runtime: AuditRuntime, payload: ConversationCreate
) -> tuple[Conversation, bool]:
    """Store a transcript (masked) and audit it; returns (conversation, created)."""
    conv, pii = _store(session, runtime=runtime, payload=payload)
    if pii is not None:
        analyse(session, runtime=runtime, conv=conv, pii_findings=pii)
    return conv, pii is not None


def _store(
    session: Session, *, runtime: AuditRuntime, payload: ConversationCreate
) -> tuple[Conversation, list[pt.Finding] | None]:
    """Store a transcript masked, not yet audited: (conversation, its PII findings), or (existing, None)."""
    digest = payload_sha256(payload)
    existing = repository.get_by_external_id(session, external_id=payload.external_id)
    if existing is not None:
        return _existing_or_conflict(existing, digest), None

    raw = pt.Conversation(
        channel=payload.channel,
        utterances=tuple(
            pt.Utterance(i, u.speaker, u.text, u.start_ms, u.end_ms) for i, u in enumerate(payload.utterances)
        ),
    )
    masked, pii = mask_conversation(runtime.pipeline.stages.masker, raw)
    conv = Conversation(
        external_id=payload.external_id,
        payload_sha256=digest,
        channel=payload.channel,
        agent_id=payload.agent_id,
        customer_id=payload.customer_id,
        started_at=payload.started_at,
        status="received",
        utterances=[
            Utterance(index=u.index, speaker=u.speaker, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms)
            for u in masked.utterances
        ],
    )
    try:
        # A savepoint, so a concurrent post of the same external_id loses nothing else in this transaction.
        with session.begin_nested():
            session.add(conv)
    except IntegrityError:
        winner = repository.get_by_external_id(session, external_id=payload.external_id)
        if winner is None:
            raise
        return _existing_or_conflict(winner, digest), None
    return conv, pii


def store_masked_utterances(
    session: Session, *, runtime: AuditRuntime, conv: Conversation, utterances: tuple[pt.Utterance, ...]
) -> list[pt.Finding]:
    """Mask and store utterances produced after the conversation row (transcription); returns PII findings."""
    masked, pii = mask_conversation(runtime.pipeline.stages.masker, pt.Conversation(conv.channel, utterances))  # type: ignore[arg-type]
    conv.utterances = [
        Utterance(index=u.index, speaker=u.speaker, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms)
        for u in masked.utterances
    ]
    session.flush()
    return pii


def analyse(
    session: Session,
    *,
    runtime: AuditRuntime,
    conv: Conversation,
    pii_findings: list[pt.Finding] | None = None,
) -> None:
    """Run the audit over the stored (masked) utterances and store the result, or the reason it failed."""
    try:
        result = runtime.pipeline.run_masked(_stored_text(conv), pii_findings=pii_findings)
    except Exception as exc:  # the audit must never lose the stored conversation
        log.exception("audit failed for conversation %s", conv.id)
        conv.status = "failed"
        conv.analysis_error = f"{type(exc).__name__}: {exc}"
        session.flush()
        return
    _store_result(session, conv=conv, result=result, keep_pii=pii_findings is None)


def analyse_many(
    session: Session, *, runtime: AuditRuntime, items: list[tuple[Conversation, list[pt.Finding]]]
) -> None:
    """Audit newly stored conversations together, so the emotion model runs in full batches across them.

    If the joint run fails, each conversation is audited on its own: the failure is then recorded on the
    conversation that caused it, and the others are still analysed.
    """
    try:
        results = runtime.pipeline.run_masked_many([(_stored_text(c), pii) for c, pii in items])
    except Exception:
        log.warning("joint audit of %d conversations failed; auditing them one by one", len(items))
        for conv, pii in items:
            analyse(session, runtime=runtime, conv=conv, pii_findings=pii)
        return
    for (conv, _), result in zip(items, results, strict=True):
        _store_result(session, conv=conv, result=result, keep_pii=False)


def _stored_text(conv: Conversation) -> pt.Conversation:
    return pt.Conversation(
        channel=conv.channel,  # type: ignore[arg-type]
        utterances=tuple(
            pt.Utterance(u.index, u.speaker, u.text, u.start_ms, u.end_ms)  # type: ignore[arg-type]
            for u in conv.utterances
        ),
    )


def _store_result(session: Session, *, conv: Conversation, result: pt.AuditResult, keep_pii: bool) -> None:
    # On re-analysis the PII findings cannot be recomputed from masked text, so they are kept.
    kept = [f for f in conv.findings if keep_pii and f.kind == "pii"]
    conv.findings = kept
    conv.keywords = []
    session.flush()
    by_index = {u.index: u for u in conv.utterances}
    for utt, emo in zip(result.utterances, result.emotions or [None] * len(result.utterances), strict=False):
        row = by_index[utt.index]
        row.emotion = emo.label if emo else None
        row.emotion_confidence = emo.confidence if emo else None
        row.emotion_probs = dict(emo.probs) if emo else None
    start = len(kept)
    for pos, f in enumerate(result.findings, start=start):
        conv.findings.append(
            Finding(
                position=pos,
                kind=f.kind,
                category=f.category,
                term=f.term,
                severity=int(f.severity),
                utterance_index=f.utterance_index,
                start=f.start,
                end=f.end,
                rule=f.rule,
                detail=f.detail,
                lexicon_version=result.lexicon_version,
            )
        )
    for pos, k in enumerate(result.keywords):
        conv.keywords.append(Keyword(position=pos, term=k.term, weight=k.weight, speaker=k.speaker))
    ce = result.conversation_emotion
    conv.customer_emotion = ce.dominant_negative if ce else None
    conv.customer_emotion_peak = ce.peak_label if ce else None
    conv.customer_emotion_peak_confidence = ce.peak_confidence if ce else None
    conv.emotion_trajectory = ce.trajectory if ce else None
    conv.emotion_summary = _emotion_dict(ce)
    conv.score = result.score.total
    conv.score_breakdown = {
        "total": result.score.total,
        "fatal": result.score.fatal,
        "items": [
            {
                "rule": i.rule,
                "dimension": i.dimension,
                "points": i.points,
                "reason": i.reason,
                "fatal": i.fatal,
            }
            for i in result.score.items
        ],
    }
    conv.severity = int(result.severity)
    conv.flagged = result.flagged
    conv.metrics = dict(result.metrics)
    conv.lexicon_version = result.lexicon_version
    conv.status = "analysed"
    conv.analysis_error = None
    conv.analysed_at = utcnow()
    session.flush()


def _emotion_dict(ce: pt.ConversationEmotion | None) -> dict[str, Any] | None:
    if ce is None:
        return None
    return {
        "dominant_negative": ce.dominant_negative,
        "peak_label": ce.peak_label,
        "peak_confidence": ce.peak_confidence,
        "peak_utterance_index": ce.peak_utterance_index,
        "first_third_negativity": ce.first_third_negativity,
        "last_third_negativity": ce.last_third_negativity,
        "trajectory": ce.trajectory,
        "ends_angry": ce.ends_angry,
    }


def create_batch(session: Session, *, runtime: AuditRuntime, items: list[dict[str, Any]]) -> BatchResult:
    """Validate and store each item on its own, then audit the new ones together.

    A bad item is reported and the good ones are kept.
    """
    if len(items) > MAX_BATCH:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH} conversations, got {len(items)}")
    results: list[BatchItemResult] = []
    stored: list[tuple[int, Conversation, bool]] = []  # (index, conversation, created)
    new: list[tuple[Conversation, list[pt.Finding]]] = []
    for index, item in enumerate(items):
        external_id = item.get("external_id") if isinstance(item, dict) else None
        try:
            payload = _create_adapter.validate_python(item)
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            results.append(
                BatchItemResult(
                    index=index,
                    status="error",
                    external_id=external_id if isinstance(external_id, str) else None,
                    error={
                        "code": "validation_error",
                        "message": "item validation failed",
                        "details": errors,
                    },
                )
            )
            continue
        try:
            with session.begin_nested():
                conv, pii = _store(session, runtime=runtime, payload=payload)
        except AppError as exc:
            results.append(
                BatchItemResult(
                    index=index,
                    status="error",
                    external_id=payload.external_id,
                    error={"code": exc.code, "message": exc.message, "details": exc.details},
                )
            )
            continue
        stored.append((index, conv, pii is not None))
        if pii is not None:
            new.append((conv, pii))
    if new:
        analyse_many(session, runtime=runtime, items=new)
    for index, conv, created in stored:
        results.append(
            BatchItemResult(
                index=index,
                status="created" if created else "existing",
                id=conv.id,
                external_id=conv.external_id,
                flagged=conv.flagged,
            )
        )
    results.sort(key=lambda r: r.index)
    return BatchResult(
        created=sum(r.status == "created" for r in results),
        existing=sum(r.status == "existing" for r in results),
        failed=sum(r.status == "error" for r in results),
        results=results,
    )


def get_conversation(session: Session, *, conversation_id: uuid.UUID) -> Conversation:
    """One conversation or NotFound."""
    conv = repository.get(session, conversation_id=conversation_id)
    if conv is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conv


def list_conversations(
    session: Session, *, filters: ConversationFilters, cursor: str | None, limit: int
) -> tuple[list[Conversation], str | None, int]:
    """Filtered, most severe and newest first."""
    return repository.search(session, filters=filters, cursor=cursor, limit=limit)


def reanalyze(session: Session, *, runtime: AuditRuntime, conversation_id: uuid.UUID) -> Conversation:
    """Audit stored text again (after a failure or a lexicon change)."""
    conv = get_conversation(session, conversation_id=conversation_id)
    if not conv.utterances:
        raise Conflict("conversation has no utterances yet (transcription not finished)")
    analyse(session, runtime=runtime, conv=conv)
    return conv
