"""Appeals (申诉): file one against a finding, list them, and decide them.

Overturning marks the finding `overturned_at` (it stays on record, shown, but stops counting) and re-scores
the conversation with the pipeline's own scorer, all in one write transaction with the decision.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.appeals import repository
from app.appeals.carry import finding_snapshot
from app.appeals.enums import AppealDecision, AppealStatus
from app.appeals.exceptions import (
    AppealAlreadyOpen,
    AppealDecided,
    AppealNotFound,
    FindingNotFound,
    FindingOverturned,
)
from app.appeals.repository import AppealFilters
from app.auth.principal import Principal
from app.auth.scope import agent_scope, ensure_visible
from app.conversations.scoring import rescore
from app.conversations.service import get_conversation
from app.db import Appeal, Conversation, Finding
from app.db.base import utcnow
from app.db.session import write_transaction
from app.errors import Conflict
from pipelines.scoring import Scorer


class FindingGone(Conflict):
    code = "finding_gone"


def visible_conversation(session: Session, *, caller: Principal, conversation_id: uuid.UUID) -> Conversation:
    """The conversation, or 404 when it does not exist or belongs to another agent than the caller."""
    conv = get_conversation(session, conversation_id=conversation_id)
    ensure_visible(caller, conversation_id=conv.id, agent_id=conv.agent_id)
    return conv


def file_appeal(
    session: Session, *, caller: Principal, conversation_id: uuid.UUID, finding_id: uuid.UUID, reason: str
) -> Appeal:
    """Contest one finding of a conversation; one open appeal per finding (409 `appeal_open`)."""
    conv = visible_conversation(session, caller=caller, conversation_id=conversation_id)
    finding = session.get(Finding, finding_id)
    if finding is None or finding.conversation_id != conv.id:
        raise FindingNotFound(f"finding {finding_id} is not a finding of conversation {conv.id}")
    if finding.overturned_at is not None:
        raise FindingOverturned("this finding was already overturned: it no longer counts")
    existing = repository.open_for_finding(session, finding_id=finding.id)
    if existing is not None:
        raise AppealAlreadyOpen(
            "this finding already has an open appeal", details={"appeal_id": str(existing.id)}
        )
    appeal = Appeal(
        conversation_id=conv.id,
        finding_id=finding.id,
        agent_id=conv.agent_id,
        reason=reason,
        status=AppealStatus.OPEN,
        created_by=caller.name,
        finding_snapshot=finding_snapshot(finding),
    )
    try:
        # The partial unique index decides between two appeals filed at the same moment.
        with session.begin_nested():
            session.add(appeal)
    except IntegrityError as exc:
        raise AppealAlreadyOpen("this finding already has an open appeal") from exc
    return appeal


def list_appeals(
    session: Session, *, caller: Principal, filters: AppealFilters, cursor: str | None, limit: int
) -> tuple[list[Appeal], str | None, int]:
    """Appeals newest first; an agent's list is its own whatever `agent_id` it asks for."""
    scope = agent_scope(caller)
    if scope is not None:
        filters = AppealFilters(status=filters.status, agent_id=scope)
    return repository.search(session, filters=filters, cursor=cursor, limit=limit)


def conversation_appeals(session: Session, *, caller: Principal, conversation_id: uuid.UUID) -> list[Appeal]:
    """The appeal history of one conversation the caller may see."""
    conv = visible_conversation(session, caller=caller, conversation_id=conversation_id)
    return repository.for_conversation(session, conversation_id=conv.id)


def decide(
    session: Session,
    *,
    caller: Principal,
    appeal_id: uuid.UUID,
    decision: AppealDecision,
    note: str | None,
    scorer: Scorer,
) -> tuple[Appeal, Conversation]:
    """Uphold or overturn an open appeal; an overturn re-scores the conversation in the same transaction."""
    with write_transaction(session):
        appeal = repository.get_for_update(session, appeal_id=appeal_id)
        if appeal is None:
            raise AppealNotFound(f"appeal {appeal_id} not found")
        if appeal.status != AppealStatus.OPEN:
            raise AppealDecided(f"appeal {appeal_id} was already decided ({appeal.status})")
        conv = session.get(Conversation, appeal.conversation_id, with_for_update=True, populate_existing=True)
        if conv is None:  # cascades with its conversation: only a concurrent delete gets here
            raise AppealNotFound(f"appeal {appeal_id} not found")
        now = utcnow()
        if decision == AppealDecision.OVERTURN:
            finding = session.get(Finding, appeal.finding_id) if appeal.finding_id is not None else None
            if finding is None:
                raise FindingGone(
                    "a re-analysis no longer finds the contested finding: nothing to overturn; uphold to close"
                )
            finding.overturned_at = now
            rescore(conv, scorer=scorer)
            appeal.status = AppealStatus.OVERTURNED
        else:
            appeal.status = AppealStatus.UPHELD
        appeal.decided_by = caller.name
        appeal.decided_at = now
        appeal.decision_note = note
        session.flush()
    return appeal, conv
