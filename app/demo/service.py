"""`audit demo load`: store and audit the demo conversations, review some, file appeals, create demo users."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.auth.policy import Role
from app.auth.principal import Principal, PrincipalKind
from app.db import Appeal, Conversation, Finding, User
from app.db.session import session_scope
from app.errors import AppError
from app.runtime import AuditRuntime
from app.users import service as users

# Sign-in name → (role, agent id). The agent user is bound to A7, one of the demo agents.
DEMO_USERS: dict[str, tuple[Role, str | None]] = {
    "demo-supervisor": (Role.SUPERVISOR, None),
    "demo-auditor": (Role.AUDITOR, None),
    "demo-admin": (Role.ADMIN, None),
    "demo-agent": (Role.AGENT, "A7"),
}
CHUNK = 50  # one batch transaction, as `audit import`: the emotion model runs in full batches
REVIEW_NOTES = {
    "reviewed": ["已与坐席沟通，纳入本周辅导", "确认违规，按规扣分", "客户情绪激动，已安排回访"],
    "dismissed": ["误报：语境正常", "客户玩笑话，不计", "已核实为正常沟通"],
}


@dataclass
class DemoResult:
    stored: int = 0
    existing: int = 0
    failed: int = 0
    flagged: int = 0
    reviewed: int = 0
    appeals: int = 0
    passwords: dict[str, str] = field(default_factory=dict)


def ensure_users(session: Session, *, password: str | None) -> dict[str, str]:
    """Create (or reset the password of) one demo user per role; returns name → password to print."""
    out = {}
    for name, (role, agent_id) in DEMO_USERS.items():
        plain = password or secrets.token_urlsafe(9)
        if session.scalar(select(User.id).where(User.name == name)) is None:
            users.create_user(session, name=name, role=role, password=plain, agent_id=agent_id)
        else:
            users.set_password(session, name=name, password=plain)
            users.unlock(session, name=name)
        out[name] = plain
    return out


def store(
    factory: sessionmaker[Session],
    runtime: AuditRuntime,
    payloads: list[dict[str, object]],
    result: DemoResult,
    progress: Callable[[int], None],
) -> list[str]:
    """Store and audit the payloads in batches; returns the ids of the conversations created now."""
    from app.conversations.service import create_batch

    created: list[str] = []
    for start in range(0, len(payloads), CHUNK):
        chunk = payloads[start : start + CHUNK]
        with session_scope(factory) as session:
            batch = create_batch(session, runtime=runtime, items=list(chunk))
        for r in batch.results:
            if r.status == "created":
                result.stored += 1
                result.flagged += int(bool(r.flagged))
                created.append(str(r.id))
            elif r.status == "existing":
                result.existing += 1
            else:
                result.failed += 1
        progress(len(chunk))
    return created


def review_some(factory: sessionmaker[Session], *, created: list[str], now: datetime, seed: int) -> int:
    """Supervisors have worked through about half of the flagged conversations older than two days."""
    from app.reviews.service import review_conversation

    rng = random.Random(seed)
    done = 0
    with session_scope(factory) as session:
        rows = session.scalars(
            select(Conversation)
            .where(Conversation.flagged.is_(True), Conversation.started_at < now - timedelta(days=2))
            .order_by(Conversation.started_at)
        ).all()
        for conv in rows:
            if str(conv.id) not in created or rng.random() < 0.5:
                continue
            status = "reviewed" if rng.random() < 0.7 else "dismissed"
            review_conversation(
                session,
                conversation_id=conv.id,
                status=status,
                note=rng.choice(REVIEW_NOTES[status]),
                reviewer="demo-supervisor",
            )
            done += 1
    return done


def appeal_some(factory: sessionmaker[Session], *, limit: int = 2) -> int:
    """The demo agent contests a finding on its most recent flagged conversations (left open to decide)."""
    from app.appeals.service import file_appeal

    filed = 0
    with session_scope(factory) as session:
        agent = session.scalar(select(User).where(User.name == "demo-agent"))
        if agent is None or session.scalar(select(Appeal.id).where(Appeal.created_by == agent.name).limit(1)):
            return 0  # a second `demo load` files none again
        caller = Principal(
            id=agent.id, kind=PrincipalKind.USER, name=agent.name, role=Role.AGENT, agent_id=agent.agent_id
        )
        rows = session.execute(
            select(Finding.id, Finding.conversation_id)
            .join(Conversation, Conversation.id == Finding.conversation_id)
            .where(
                Conversation.agent_id == agent.agent_id, Conversation.flagged.is_(True), Finding.severity >= 2
            )
            .order_by(Conversation.started_at.desc())
        ).all()
        seen: set[object] = set()
        for finding_id, conversation_id in rows:
            if conversation_id in seen or filed >= limit:
                continue
            seen.add(conversation_id)
            try:
                file_appeal(
                    session,
                    caller=caller,
                    conversation_id=conversation_id,
                    finding_id=finding_id,
                    reason="客户先辱骂在前，我是在解释流程，不是推诿，请主管复核录音。",
                )
                filed += 1
            except AppError:
                continue  # a finding the appeal rules refuse (e.g. overturned): try the next
    return filed
