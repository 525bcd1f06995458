"""Conversation use cases: store first, then audit; a failed audit is recorded, never lost."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.conversations import repository
from app.conversations.audit import AuditItem, analyse, audit_and_record, audit_if_received, stored_text
from app.conversations.coalesce import Coalescer
from app.conversations.enums import ConversationStatus
from app.conversations.repository import ConversationFilters
from app.conversations.schemas import (
    MAX_BATCH,
    BatchItemResult,
    BatchResult,
    ConversationCreate,
)
from app.conversations.search import Total
from app.db import Conversation, Utterance
from app.db.session import write_transaction
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
    session: Session,
    *,
    runtime: AuditRuntime,
    payload: ConversationCreate,
    coalescer: PostCoalescer | None = None,
) -> tuple[Conversation, bool]:
    """Store a transcript (masked) and audit it; returns (conversation, created).

    Stored in one short write transaction and audited outside any, the result recorded in a second one
    (`audit_and_record`): the write lock is never held while the model runs. With a `coalescer`, a new
    transcript posted while others are being stored is stored and audited together with the others posted
    meanwhile (`store_group`); anything else takes this path one by one.
    """
    prepared = _prepare(runtime, payload)
    if coalescer is not None:
        bind = session.get_bind()
        outcome = coalescer.run((payload, prepared), lambda items: store_group(bind, runtime, items))
        if isinstance(outcome, Exception):
            raise outcome  # stored, but its audit could not be recorded: as the one-by-one path answers
        if outcome is not None:
            return outcome, True
    with write_transaction(session):
        conv, created = _store(session, payload=payload, prepared=prepared)
    if created:
        audit_and_record(session, runtime=runtime, items=[(conv, prepared.masked, prepared.pii)])
    elif conv.status == ConversationStatus.RECEIVED:
        conv = _audit_left_received(session, runtime=runtime, conv=conv)
    return conv, created


_Posted = tuple[ConversationCreate, "_Prepared"]
# A posted transcript's outcome in a group: stored and audited, stored but not recorded (the error), or
# None when the group left it to its request (not new, or the group's storing failed).
PostCoalescer = Coalescer[_Posted, "Conversation | Exception"]


def store_group(
    bind: Engine | Connection, runtime: AuditRuntime, items: list[_Posted]
) -> list[Conversation | Exception | None]:
    """Store the new transcripts among `items` in one write transaction, audit them together and record the
    results in a second one (the /batch path); one outcome per item (see `PostCoalescer`).

    An error before the first commit propagates: nothing is stored and every item is left to its request.
    """
    outcomes: list[Conversation | Exception | None] = [None] * len(items)
    # A session of its own: the group is every request's work, not the leading request's.
    with Session(bind, expire_on_commit=False) as session:
        with write_transaction(session):
            together, _ = _store_new_together(session, [(i, p, prep) for i, (p, prep) in enumerate(items)])
        if not together:
            return outcomes
        try:
            audit_and_record(
                session,
                runtime=runtime,
                items=[(conv, items[i][1].masked, items[i][1].pii) for i, conv in together],
            )
        except Exception as exc:  # the rows stay `received` for the recovery or a re-post, as one by one
            for i, _ in together:
                outcomes[i] = exc
            return outcomes
        for i, conv in together:
            outcomes[i] = conv
    return outcomes


def _audit_left_received(session: Session, *, runtime: AuditRuntime, conv: Conversation) -> Conversation:
    """A re-post of a conversation stored but never audited (its process was killed): audit it now."""
    return audit_if_received(session, runtime=runtime, conversation_id=conv.id) or conv


_NewConversation = tuple[Conversation, list[Utterance]]


@dataclass(frozen=True)
class _Prepared:
    """A validated transcript ready to store: its fingerprint, masked text and the PII masking found."""

    digest: str
    masked: pt.Conversation
    pii: list[pt.Finding]


def _prepare(runtime: AuditRuntime, payload: ConversationCreate) -> _Prepared:
    # Masking is CPU work: done before the write transaction, not inside it.
    raw = pt.Conversation(
        channel=payload.channel,
        utterances=tuple(
            pt.Utterance(i, u.speaker, u.text, u.start_ms, u.end_ms) for i, u in enumerate(payload.utterances)
        ),
    )
    masked, pii = mask_conversation(runtime.pipeline.stages.masker, raw)
    return _Prepared(digest=payload_sha256(payload), masked=masked, pii=pii)


_Valid = tuple[int, ConversationCreate, _Prepared]


def _new_conversation(payload: ConversationCreate, prepared: _Prepared) -> _NewConversation:
    conv = Conversation(
        id=uuid.uuid4(),
        external_id=payload.external_id,
        payload_sha256=prepared.digest,
        channel=payload.channel,
        agent_id=payload.agent_id,
        customer_id=payload.customer_id,
        started_at=payload.started_at,
        status=ConversationStatus.RECEIVED,
    )
    rows = [
        {"index": u.index, "speaker": u.speaker, "text": u.text, "start_ms": u.start_ms, "end_ms": u.end_ms}
        for u in prepared.masked.utterances
    ]
    return conv, repository.new_rows(Utterance, conversation_id=conv.id, rows=rows)


def _insert(session: Session, new: list[_NewConversation]) -> None:
    """Insert new conversations in one flush and all their utterances in one executemany.

    The utterances are set as the conversations' loaded collection before the flush, so everything that
    reads them at the flush (the search index of app.db.conversation) sees them, but the unit of work does
    not insert them one object at a time. A conversation just inserted has no findings, keywords or
    reviews: they are set empty rather than queried for.
    """
    session.add_all([conv for conv, _ in new])
    for conv, utterances in new:
        set_committed_value(conv, "utterances", utterances)
    session.flush()
    repository.insert_loaded(session, [u for _, utterances in new for u in utterances])
    for conv, _ in new:
        for key in ("findings", "keywords", "reviews"):
            set_committed_value(conv, key, [])


def _store(
    session: Session, *, payload: ConversationCreate, prepared: _Prepared
) -> tuple[Conversation, bool]:
    """Store a masked transcript, not yet audited: (conversation, True), or (the one stored before, False)."""
    existing = repository.get_by_external_id(session, external_id=payload.external_id)
    if existing is not None:
        return _existing_or_conflict(existing, prepared.digest), False
    conv, utterances = _new_conversation(payload, prepared)
    try:
        # A savepoint: a concurrent post of the same external_id (PostgreSQL) loses nothing else stored here.
        with session.begin_nested():
            _insert(session, [(conv, utterances)])
    except IntegrityError:
        winner = repository.get_by_external_id(session, external_id=payload.external_id)
        if winner is None:
            raise
        return _existing_or_conflict(winner, prepared.digest), False
    return conv, True


def _store_new_together(
    session: Session, valid: list[_Valid]
) -> tuple[list[tuple[int, Conversation]], list[_Valid]]:
    """Store the batch's items new to the database in one flush: (index, conversation) stored, items left.

    Items already stored, repeated within the batch, or all of them when the joint insert fails (a
    concurrent post of the same external_id), are left for `_store` one by one, which tells apart
    existing, conflicting and new.
    """
    known = repository.existing_external_ids(session, external_ids=[p.external_id for _, p, _ in valid])
    fresh: list[tuple[int, _NewConversation]] = []
    rest: list[_Valid] = []
    for index, payload, prepared in valid:
        if payload.external_id in known:
            rest.append((index, payload, prepared))
            continue
        known.add(payload.external_id)
        fresh.append((index, _new_conversation(payload, prepared)))
    if not fresh:
        return [], rest
    try:
        with session.begin_nested():
            _insert(session, [new for _, new in fresh])
    except IntegrityError:
        for _, (conv, _utterances) in fresh:  # the savepoint's rollback has usually expunged them already
            if conv in session:
                session.expunge(conv)
        return [], valid
    return [(index, conv) for index, (conv, _) in fresh], rest


def create_batch(session: Session, *, runtime: AuditRuntime, items: list[dict[str, Any]]) -> BatchResult:
    """Validate and store each item on its own, then audit the new ones together.

    A bad item is reported and the good ones are kept. All good items are stored in one short write
    transaction, audited outside any, and their results recorded in a second one (`audit_and_record`):
    every stored item ends `analysed` or `failed` with its reason.
    """
    if len(items) > MAX_BATCH:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH} conversations, got {len(items)}")
    results: list[BatchItemResult] = []
    valid: list[_Valid] = []
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
        valid.append((index, payload, _prepare(runtime, payload)))

    stored: list[tuple[int, Conversation, bool]] = []  # (index, conversation, created)
    new: list[AuditItem] = []
    by_index = {index: prepared for index, _, prepared in valid}
    with write_transaction(session):
        together, rest = _store_new_together(session, valid)
        for index, conv in together:
            stored.append((index, conv, True))
            new.append((conv, by_index[index].masked, by_index[index].pii))
        for index, payload, prepared in rest:
            try:
                with session.begin_nested():
                    conv, created = _store(session, payload=payload, prepared=prepared)
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
            stored.append((index, conv, created))
            if created:
                new.append((conv, prepared.masked, prepared.pii))
            elif conv.status == ConversationStatus.RECEIVED and all(conv is not c for c, _, _ in new):
                # Stored by a process killed before its audit (a repeat within this batch is audited once).
                new.append((conv, stored_text(conv), None))
    if new:
        audit_and_record(session, runtime=runtime, items=new)
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
) -> tuple[list[Conversation], str | None, Total]:
    """Filtered, most severe and newest first."""
    return repository.search(session, filters=filters, cursor=cursor, limit=limit)


def reanalyze(session: Session, *, runtime: AuditRuntime, conversation_id: uuid.UUID) -> Conversation:
    """Audit stored text again (after a failure or a lexicon change)."""
    conv = get_conversation(session, conversation_id=conversation_id)
    if not conv.utterances:
        raise Conflict("conversation has no utterances yet (transcription not finished)")
    analyse(session, runtime=runtime, conv=conv)
    return conv
