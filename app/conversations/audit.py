"""Auditing stored conversations and recording the outcome: the model runs outside any transaction.

Every audited conversation ends `analysed` with its result or `failed` with the reason; only the database
itself going away leaves a row `received`, for the start-up recovery or a re-post to audit
(`audit_if_received`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.alerts.raising import record_alerts
from app.appeals import carry
from app.conversations import repository
from app.conversations.enums import ConversationStatus
from app.conversations.scoring import rescore, score_breakdown
from app.db import Conversation, Finding, Keyword, Utterance
from app.db.base import utcnow
from app.db.session import write_transaction
from app.runtime import AuditRuntime
from pipelines import types as pt
from pipelines.audit import mask_conversation

log = logging.getLogger(__name__)

# An audit's items: (stored conversation, its masked text, PII findings of the masking or None to keep stored ones)
AuditItem = tuple[Conversation, pt.Conversation, list[pt.Finding] | None]


def audit_if_received(
    session: Session, *, runtime: AuditRuntime, conversation_id: uuid.UUID
) -> Conversation | None:
    """Audit a conversation still `received` (stored, never audited); any other is returned as it is.

    Audited outside any transaction; the outcome is recorded only if the row is still `received` under the
    write lock, so a re-post and the start-up recovery auditing it at once record it once. The PII findings
    of the first attempt cannot be recovered: the raw text was never stored.
    """
    conv = repository.get(session, conversation_id=conversation_id)
    if conv is None or conv.status != ConversationStatus.RECEIVED:
        return conv
    log.warning("auditing conversation %s, left received", conversation_id)
    items: list[AuditItem] = [(conv, stored_text(conv), None)]
    (outcome,) = _audit(runtime, items)
    with write_transaction(session):
        locked = session.get(Conversation, conversation_id, with_for_update=True, populate_existing=True)
        if locked is not None and locked.status == ConversationStatus.RECEIVED:
            _record(session, conv=locked, outcome=outcome, keep_pii=True)
    return locked


@dataclass(frozen=True)
class TranscriptAudit:
    """Utterances produced after the conversation row (transcription), masked and audited, not yet stored."""

    masked: pt.Conversation
    outcome: pt.AuditResult | Exception


def audit_transcript(
    runtime: AuditRuntime, *, channel: str, utterances: tuple[pt.Utterance, ...]
) -> TranscriptAudit:
    """Mask and audit a transcript; touches no database, so no transaction is held while the model runs."""
    raw = pt.Conversation(channel, utterances)  # type: ignore[arg-type]  # a stored channel is a valid one
    masked, pii = mask_conversation(runtime.pipeline.stages.masker, raw)
    outcome: pt.AuditResult | Exception
    try:
        outcome = runtime.pipeline.run_masked(masked, pii_findings=pii)
    except Exception as exc:  # recorded on the conversation, never lost
        log.exception("audit of a transcription failed")
        outcome = exc
    return TranscriptAudit(masked=masked, outcome=outcome)


def record_transcript(session: Session, *, conv: Conversation, audit: TranscriptAudit) -> None:
    """Store the masked utterances of `audit_transcript` and its result (or the reason it failed)."""
    conv.utterances = [
        Utterance(index=u.index, speaker=u.speaker, text=u.text, start_ms=u.start_ms, end_ms=u.end_ms)
        for u in audit.masked.utterances
    ]
    session.flush()
    _record(session, conv=conv, outcome=audit.outcome, keep_pii=False)


def analyse(
    session: Session,
    *,
    runtime: AuditRuntime,
    conv: Conversation,
    pii_findings: list[pt.Finding] | None = None,
) -> None:
    """Run the audit over the stored (masked) utterances and store the result, or the reason it failed."""
    pipeline = runtime.pipeline  # one rule set for the audit and any re-scoring below
    try:
        result = pipeline.run_masked(stored_text(conv), pii_findings=pii_findings)
    except Exception as exc:  # the audit must never lose the stored conversation
        log.exception("audit failed for conversation %s", conv.id)
        conv.status = ConversationStatus.FAILED
        conv.analysis_error = f"{type(exc).__name__}: {exc}"
        session.flush()
        return
    # Overturned findings stay overturned (and stop counting) when the re-analysis finds them again.
    carried = carry.remember(session, conv=conv)
    _store_results(session, [(conv, result, pii_findings is None)])
    if carry.restore(session, conv=conv, carried=carried):
        rescore(conv, scorer=pipeline.stages.scorer)
        session.flush()
    # After the carry-over, so a finding overturned on appeal raises no alert when found again.
    record_alerts(session, conv=conv)


def _audit(runtime: AuditRuntime, items: list[AuditItem]) -> list[pt.AuditResult | Exception]:
    """One audit result, or the exception that stopped it, per item; touches no database."""
    pipeline = runtime.pipeline
    try:
        return list(pipeline.run_masked_many([(text, pii) for _, text, pii in items]))
    except Exception:
        log.warning("joint audit of %d conversations failed; auditing them one by one", len(items))
    outcomes: list[pt.AuditResult | Exception] = []
    for conv, text, pii in items:
        try:
            outcomes.append(pipeline.run_masked(text, pii_findings=pii))
        except Exception as exc:  # recorded on the conversation, never lost
            log.exception("audit failed for conversation %s", conv.id)
            outcomes.append(exc)
    return outcomes


def _record(
    session: Session, *, conv: Conversation, outcome: pt.AuditResult | Exception, keep_pii: bool
) -> None:
    """Store one audit's result, or the reason it failed; one conversation's bad result spoils no other."""
    if isinstance(outcome, Exception):
        _mark_failed(session, conv=conv, reason=f"{type(outcome).__name__}: {outcome}")
        return
    try:
        with session.begin_nested():
            _store_results(session, [(conv, outcome, keep_pii)])
            # In the same transaction as the result (an outbox): an alert exists exactly when its result was
            # stored, and its unique key makes a redelivered job raise it once (app.alerts.raising).
            record_alerts(session, conv=conv)
    except Exception as exc:
        # The database itself failing (gone, locked too long) is not this result's fault: let it propagate.
        if isinstance(exc, OperationalError | InterfaceError):
            raise
        log.exception("could not store the audit result of conversation %s", conv.id)
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        _mark_failed(session, conv=conv, reason=f"could not store the audit result: {type(cause).__name__}")


def _record_all(
    session: Session, *, items: list[AuditItem], outcomes: list[pt.AuditResult | Exception]
) -> None:
    """Store a batch's results with one INSERT per table; if that fails, each on its own (`_record`).

    Per conversation, a savepoint and two INSERTs cost more than its audit (issue 14: /batch). The joint
    attempt is all or nothing, so the fallback still stores every good result and marks only the bad ones.
    """
    done = [
        (conv, outcome, pii is None)
        for (conv, _, pii), outcome in zip(items, outcomes, strict=True)
        if not isinstance(outcome, Exception)
    ]
    if len(done) > 1:
        added: list[Finding | Keyword] = []
        try:
            with session.begin_nested():
                _store_results(session, done, added=added)
                for conv, _, _ in done:
                    record_alerts(session, conv=conv)
        except (OperationalError, InterfaceError):
            raise
        except Exception:
            log.warning("storing %d audit results together failed; storing them one by one", len(done))
            # Rows the savepoint took back must not stay in the session as if stored.
            for obj in added:
                if obj in session:
                    session.expunge(obj)
        else:
            for (conv, _, _), outcome in zip(items, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    _mark_failed(session, conv=conv, reason=f"{type(outcome).__name__}: {outcome}")
            return
    for (conv, _, pii), outcome in zip(items, outcomes, strict=True):
        _record(session, conv=conv, outcome=outcome, keep_pii=pii is None)


def _mark_failed(session: Session, *, conv: Conversation, reason: str) -> None:
    conv.status = ConversationStatus.FAILED
    conv.analysis_error = reason
    session.flush()


def audit_and_record(
    session: Session,
    *,
    runtime: AuditRuntime,
    items: list[AuditItem],
) -> None:
    """Audit stored conversations outside any transaction, then record every outcome in one short one.

    If the results cannot be written, each conversation is marked failed with the reason in a transaction
    of its own; if even that fails (the database is gone), the error propagates and the rows stay
    `received` for the start-up recovery or a re-post to audit.
    """
    outcomes = _audit(runtime, items)
    try:
        with write_transaction(session):
            _record_all(session, items=items, outcomes=outcomes)
    except Exception as exc:
        log.exception("could not record the audit of %d conversations", len(items))
        reason = f"could not store the audit result: {type(exc).__name__}"
        with write_transaction(session):
            for conv, _, _ in items:
                _mark_failed(session, conv=conv, reason=reason)


def stored_text(conv: Conversation) -> pt.Conversation:
    return pt.Conversation(
        channel=conv.channel,  # type: ignore[arg-type]
        utterances=tuple(
            pt.Utterance(u.index, u.speaker, u.text, u.start_ms, u.end_ms)  # type: ignore[arg-type]
            for u in conv.utterances
        ),
    )


def _store_results(
    session: Session,
    results: list[tuple[Conversation, pt.AuditResult, bool]],
    *,
    added: list[Finding | Keyword] | None = None,
) -> None:
    """Store audit results (conversation, result, keep stored PII findings): one flush of the conversation
    rows, then one INSERT of all their findings and one of all their keywords (collected in `added` first,
    for a caller that must take them back out of the session when the INSERT fails)."""
    children = [
        (conv, *_apply_result(session, conv=conv, result=result, keep_pii=keep))
        for conv, result, keep in results
    ]
    # The conversation rows are written (and so locked) before their children, in the order the unit of work
    # uses everywhere else: a re-post auditing the same row (audit_if_received) then waits, never deadlocks.
    session.flush()
    # One multi-row INSERT per table instead of the unit of work's bookkeeping per object (issue 14).
    new_findings = [
        repository.new_rows(Finding, conversation_id=conv.id, rows=f) for conv, _, f, _ in children
    ]
    new_keywords = [
        repository.new_rows(Keyword, conversation_id=conv.id, rows=k) for conv, _, _, k in children
    ]
    all_findings = [row for rows in new_findings for row in rows]
    all_keywords = [row for rows in new_keywords for row in rows]
    if added is not None:
        added.extend([*all_findings, *all_keywords])
    repository.insert_loaded(session, all_findings)
    repository.insert_loaded(session, all_keywords)
    for (conv, kept, _, _), findings, keywords in zip(children, new_findings, new_keywords, strict=True):
        set_committed_value(conv, "findings", kept + findings)
        set_committed_value(conv, "keywords", keywords)


_Rows = list[dict[str, Any]]


def _apply_result(
    session: Session, *, conv: Conversation, result: pt.AuditResult, keep_pii: bool
) -> tuple[list[Finding], _Rows, _Rows]:
    """Set a result on the conversation and its utterances (not flushed); (findings kept, new finding rows,
    new keyword rows)."""
    # On re-analysis the PII findings cannot be recomputed from masked text, so they are kept.
    kept = [f for f in conv.findings if keep_pii and f.kind == "pii"]
    if len(kept) != len(conv.findings) or conv.keywords:  # a re-analysis: the old rows go first
        conv.findings = kept
        conv.keywords = []
        session.flush()
    by_index = {u.index: u for u in conv.utterances}
    for utt, emo in zip(result.utterances, result.emotions or [None] * len(result.utterances), strict=False):
        row = by_index[utt.index]
        values = (emo.label, emo.confidence, dict(emo.probs)) if emo else (None, None, None)
        # Unchanged values are not set: an UPDATE per utterance writing what is stored costs more than the audit.
        if (row.emotion, row.emotion_confidence, row.emotion_probs) != values:
            row.emotion, row.emotion_confidence, row.emotion_probs = values
    start = len(kept)
    findings = [
        {
            "position": pos,
            "kind": f.kind,
            "category": f.category,
            "term": f.term,
            "severity": int(f.severity),
            "utterance_index": f.utterance_index,
            "start": f.start,
            "end": f.end,
            "rule": f.rule,
            "detail": f.detail,
            "lexicon_version": result.lexicon_version,
            "rules_version": result.rules_version,
            "overturned_at": None,
        }
        for pos, f in enumerate(result.findings, start=start)
    ]
    keywords = [
        {"position": pos, "term": k.term, "weight": k.weight, "speaker": k.speaker}
        for pos, k in enumerate(result.keywords)
    ]
    ce = result.conversation_emotion
    conv.customer_emotion = ce.dominant_negative if ce else None
    conv.customer_emotion_peak = ce.peak_label if ce else None
    conv.customer_emotion_peak_confidence = ce.peak_confidence if ce else None
    conv.emotion_trajectory = ce.trajectory if ce else None
    conv.emotion_summary = _emotion_dict(ce)
    # Conversation-level dissatisfaction (issue 11) and the customer turns driving it.
    ds = result.dissatisfaction
    conv.dissatisfaction = round(ds.probability, 4) if ds else None
    conv.dissatisfaction_turns = [{"index": t.index, "weight": t.weight} for t in ds.turns] if ds else None
    conv.score = result.score.total
    conv.score_breakdown = score_breakdown(result.score)
    conv.severity = int(result.severity)
    conv.flagged = result.flagged
    conv.metrics = dict(result.metrics)
    conv.lexicon_version = result.lexicon_version
    conv.status = ConversationStatus.ANALYSED
    conv.analysis_error = None
    conv.analysed_at = utcnow()
    return kept, findings, keywords


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
