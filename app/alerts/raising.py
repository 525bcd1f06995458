"""Raising alerts from a recorded audit result: the outbox rows, in the caller's transaction.

Called from `app.conversations.audit` right after a result is stored. An alert and its deliveries are
written in the same transaction as the result, so an alert exists exactly when the result it reports was
committed — no alert lost between the commit and a later step, none for a result rolled back. The unique
`dedup_key` makes a re-analysis, a redelivered job or two processes recording together raise it once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.alerts import config as alert_config
from app.alerts import wake
from app.alerts.config import AlertConfig
from app.alerts.enums import AlertScope, DeliveryStatus
from app.alerts.rules import MAX_MATCHES_KEPT, AlertRule, FindingView
from app.db import Alert, AlertDelivery, Conversation
from app.db.base import utcnow
from app.schemas_common import centre_timezone
from pipelines.types import Severity

log = logging.getLogger(__name__)
_SEVERITY_ZH = {Severity.GENERAL: "一般", Severity.IMPORTANT: "重要", Severity.MAJOR: "重大"}


def record_alerts(session: Session, *, conv: Conversation) -> int:
    """Raise the alerts this stored result triggers; returns how many are new. Never fails the audit.

    A broken rule or a bug here is logged and costs only the alerts (the result is kept); the database
    itself failing propagates, as it does for the result.
    """
    try:
        config = alert_config.for_session(session)
        if not config.rules.rules:
            return 0
        with session.begin_nested():
            raised = _raise(session, conv=conv, config=config)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        log.exception("alert rules failed for conversation %s; its audit result is kept", conv.id)
        return 0
    if raised:
        wake.mark(session)
    return raised


def _raise(session: Session, *, conv: Conversation, config: AlertConfig) -> int:
    findings = [
        FindingView(f.kind, f.category, f.term, f.severity, f.utterance_index)
        for f in conv.findings
        if f.overturned_at is None  # overturned on appeal: it no longer counts, so it alerts no one
    ]
    raised = 0
    for rule in config.rules.rules:
        details = _fires(session, rule=rule, conv=conv, findings=findings)
        if details is None:
            continue
        if _add(session, rule=rule, conv=conv, details=details, config=config):
            raised += 1
    return raised


def _fires(
    session: Session, *, rule: AlertRule, conv: Conversation, findings: list[FindingView]
) -> dict[str, Any] | None:
    """The alert's details if the rule fires for this conversation, else None."""
    if rule.findings is not None:
        matched = rule.matched_findings(findings)
        if not matched:
            return None
        return {
            "score": conv.score,
            "matched": len(matched),
            "findings": [
                {
                    "kind": f.kind,
                    "category": f.category,
                    "term": f.term,
                    "severity": Severity(f.severity).label,
                    "utterance_index": f.utterance_index,
                }
                for f in matched[:MAX_MATCHES_KEPT]
            ],
        }
    if rule.score_below is not None:
        return {"score": conv.score, "threshold": rule.score_below} if rule.score_fires(conv.score) else None
    if rule.dissatisfaction_min is not None:
        if not rule.dissatisfaction_fires(conv.dissatisfaction):
            return None
        return {
            "score": conv.score,
            "dissatisfaction": conv.dissatisfaction,
            "dissatisfaction_threshold": rule.dissatisfaction_min,
        }
    if rule.agent_flagged_per_day is not None and conv.flagged:
        start, end = _local_day(conv.started_at)
        count = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.agent_id == conv.agent_id,
                Conversation.flagged.is_(True),
                Conversation.started_at >= start,
                Conversation.started_at < end,
            )
        )
        if (count or 0) >= rule.agent_flagged_per_day:
            return {"flagged": count, "threshold": rule.agent_flagged_per_day, "score": conv.score}
    return None


def _local_day(at: datetime) -> tuple[datetime, datetime]:
    """The centre's calendar day (AUDIT_TIMEZONE) around `at`, as aware bounds."""
    zone = centre_timezone()
    local = at.astimezone(zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    return start, datetime.combine(start.date() + timedelta(days=1), start.timetz())


def dedup_key(rule: AlertRule, conv: Conversation) -> str:
    """(rule, conversation) or (rule, agent, day): the unique key of the alert."""
    if rule.scope == AlertScope.AGENT_DAY:
        return f"{rule.id}|a|{conv.agent_id}|{_local_day(conv.started_at)[0].date().isoformat()}"
    return f"{rule.id}|c|{conv.id}"


def _add(
    session: Session, *, rule: AlertRule, conv: Conversation, details: dict[str, Any], config: AlertConfig
) -> bool:
    key = dedup_key(rule, conv)
    if session.scalar(select(Alert.id).where(Alert.dedup_key == key)) is not None:
        return False  # raised before (re-analysis, redelivery): never twice
    day = _local_day(conv.started_at)[0].date().isoformat() if rule.scope == AlertScope.AGENT_DAY else None
    now = utcnow()
    alert = Alert(
        dedup_key=key,
        rule=rule.id,
        rule_name=rule.name,
        severity=int(rule.severity),
        scope=rule.scope,
        conversation_id=conv.id,
        external_id=conv.external_id,
        agent_id=conv.agent_id,
        day=day,
        analysed_at=conv.analysed_at,
        title=f"【{_SEVERITY_ZH[rule.severity]}】{rule.name}",
        summary=_summary(rule, conv, details),
        details=details,
        lexicon_version=conv.lexicon_version,
        acknowledged=False,
        created_at=now,
        deliveries=[
            AlertDelivery(
                target=t.name,
                kind=t.kind,
                status=DeliveryStatus.PENDING,
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                attempts_log=[],
            )
            for t in config.targets
            if t.accepts(rule=rule.id, severity=int(rule.severity))
        ],
    )
    try:
        with session.begin_nested():  # another process raising the same alert at once: one of them wins
            session.add(alert)
    except IntegrityError:
        return False
    return True


def _summary(rule: AlertRule, conv: Conversation, details: dict[str, Any]) -> str:
    """One line a team lead reads on a phone: who, which conversation, why."""
    who = f"坐席 {conv.agent_id}"
    if rule.scope == AlertScope.AGENT_DAY:
        return f"{who} 当日已有 {details['flagged']} 个会话被标记（阈值 {details['threshold']}），最新会话 {conv.external_id}"
    score = "" if conv.score is None else f"，得分 {conv.score:g}"
    if "findings" in details:
        hits = "、".join(
            f"{f['category']}「{f['term']}」" if f["term"] else str(f["category"])
            for f in details["findings"][:5]
        )
        return f"{who}，会话 {conv.external_id}{score}：{hits}"
    if "dissatisfaction" in details:
        return (
            f"{who}，会话 {conv.external_id}{score}：不满意度 {details['dissatisfaction']:.2f}"
            f"（阈值 {details['dissatisfaction_threshold']:g}）"
        )
    return f"{who}，会话 {conv.external_id}{score}（低于 {details['threshold']:g}）"
