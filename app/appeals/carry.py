"""Re-analysis replaces a conversation's findings; an overturned finding must not come back silently.

A finding is the same finding again when kind, category, term, utterance and offsets match (the text is
stored masked and never changes, so a rule that still fires fires at the same place). Such a finding stays
overturned, and every appeal follows its finding to the new row; an appeal whose finding is no longer
found keeps its history with `finding_id` NULL and the snapshot taken when it was filed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import Appeal, Conversation, Finding

FindingKey = tuple[str, str, str | None, int | None, int | None, int | None]


def finding_key(f: Finding) -> FindingKey:
    """What identifies a finding across re-analyses."""
    return (f.kind, f.category, f.term, f.utterance_index, f.start, f.end)


def finding_snapshot(f: Finding) -> dict[str, object]:
    """What an appeal contested, kept on the appeal so its history reads the same whatever happens later."""
    return {
        "kind": f.kind,
        "category": f.category,
        "term": f.term,
        "rule": f.rule,
        "severity": f.severity,
        "utterance_index": f.utterance_index,
        "start": f.start,
        "end": f.end,
    }


@dataclass
class Carried:
    """Overturned findings and appealed findings of a conversation, by key, before its findings are replaced."""

    overturned: dict[FindingKey, datetime] = field(default_factory=dict)
    appeals: list[tuple[uuid.UUID, FindingKey]] = field(default_factory=list)


def remember(session: Session, *, conv: Conversation) -> Carried:
    """Take note of what must survive a re-analysis of `conv` (call before its findings are replaced)."""
    keys = {f.id: finding_key(f) for f in conv.findings}
    overturned = {finding_key(f): f.overturned_at for f in conv.findings if f.overturned_at is not None}
    rows = session.execute(
        select(Appeal.id, Appeal.finding_id).where(
            Appeal.conversation_id == conv.id, Appeal.finding_id.is_not(None)
        )
    ).all()
    appeals = [(appeal_id, keys[finding_id]) for appeal_id, finding_id in rows if finding_id in keys]
    return Carried(overturned={k: v for k, v in overturned.items() if v is not None}, appeals=appeals)


def restore(session: Session, *, conv: Conversation, carried: Carried) -> bool:
    """Mark matching new findings overturned again and re-point appeals; True if any finding stays overturned.

    Call after the new findings are flushed (they need their ids).
    """
    by_key: dict[FindingKey, Finding] = {}
    for f in conv.findings:
        by_key.setdefault(finding_key(f), f)  # the first of identical hits, as the appeal was filed on one
    kept_overturned = False
    for key, at in carried.overturned.items():
        row = by_key.get(key)
        if row is not None:
            if row.overturned_at is None:
                row.overturned_at = at
            kept_overturned = True
    for appeal_id, key in carried.appeals:
        row = by_key.get(key)
        session.execute(
            update(Appeal)
            .where(Appeal.id == appeal_id)
            .values(finding_id=row.id if row is not None else None)
            .execution_options(synchronize_session="fetch")
        )
    session.flush()
    return kept_overturned
