"""Aggregate queries behind the reports: every number is a GROUP BY in the database, never rows in Python.

Each function returns one small row per group (agent, day, term, rule), not per conversation or finding.
A report covers analysed conversations that started in [since, until). A finding overturned on appeal
(`findings.overturned_at`) no longer counts as a finding; the rules report counts it as overturned.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    FromClause,
    Row,
    SQLColumnExpression,
    and_,
    case,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from app.appeals.enums import AppealStatus
from app.conversations.enums import ConversationStatus
from app.db import Appeal, Conversation, Finding, Keyword, Utterance
from app.reports.period import ReportPeriod, local_day
from pipelines.types import Channel

C, F, K, U = Conversation, Finding, Keyword, Utterance
CHANNELS: tuple[Channel, ...] = ("phone", "chat")
# Findings that report personal data being masked say nothing about the agent's work: left out.
PII_KIND = "pii"
SLOW_REPLY_RULE = "norm:slow_reply"
TOP_KEYWORDS = 10
RISING_KEYWORDS = 10
Rows = Sequence[Row[*tuple[Any, ...]]]


# For the report's own transaction only (SET LOCAL): a report runs a few aggregates over up to several hundred
# thousand rows, where PostgreSQL's JIT compilation costs more than it saves (about 0.2 s a query, measured by
# benchmarks/bench_reports.py) and the default 4 MB work_mem sends the (day, keyword) sort to disk.
POSTGRES_REPORT_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


def tune_for_reports(session: Session, *, dialect: str) -> None:
    """Set up the request's transaction for aggregate queries (PostgreSQL; SQLite needs nothing)."""
    if dialect == "postgresql":
        for statement in POSTGRES_REPORT_SETTINGS:
            session.execute(text(statement))


def in_period(since: datetime, until: datetime) -> ColumnElement[bool]:
    """Analysed conversations that started in [since, until) (uses ix_conversations_started_at)."""
    return and_(C.started_at >= since, C.started_at < until, C.status == ConversationStatus.ANALYSED)


def finding_live() -> ColumnElement[bool]:
    """A finding that still counts: not overturned on appeal."""
    return F.overturned_at.is_(None)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _bytewise(column: SQLColumnExpression[str], dialect: str) -> SQLColumnExpression[str]:
    # Ties between keywords break by code point on both backends (PostgreSQL would use its locale's order).
    return column.collate("C") if dialect == "postgresql" else column


RESPONSE_METRICS = ("first_response_ms", "avg_response_ms", "max_response_ms")


def _response_metrics(dialect: str) -> tuple[FromClause | None, list[ColumnElement[float]]]:
    """The three response times of `conversations.metrics` (JSON), and a FROM item to join when one is needed.

    PostgreSQL: json_to_record parses each row's JSON once; `->>` parses it again for every reference (ten in
    the agent report: 0.6 s instead of 0.3 s over 100,000 conversations). SQLite: JSON_EXTRACT per reference.
    """
    if dialect == "postgresql":
        record = (
            func.json_to_record(C.metrics)
            .table_valued(*(column(name, Float) for name in RESPONSE_METRICS), name="m")
            .render_derived(with_types=True)
        )
        return record, [record.c[name] for name in RESPONSE_METRICS]
    return None, [C.metrics[name].as_float() for name in RESPONSE_METRICS]


# --- per agent ---------------------------------------------------------------------------------------


def agent_conversations(
    session: Session, *, period: ReportPeriod, standards: dict[str, int | None], dialect: str
) -> Rows:
    """Per agent: volume, score, flags, review outcomes, and response times per channel."""
    record, (first, average, longest) = _response_metrics(dialect)
    columns: list[ColumnElement[Any]] = [
        C.agent_id.label("agent_id"),
        func.count().label("conversations"),
        func.avg(C.score).label("mean_score"),
        func.min(C.score).label("lowest_score"),
        _count_if(C.flagged.is_(True)).label("flagged"),
        _count_if(C.review_status == "reviewed").label("confirmed"),
        _count_if(C.review_status == "dismissed").label("dismissed"),
    ]
    for channel in CHANNELS:
        on = C.channel == channel
        limit = standards.get(channel)
        over = and_(on, first > limit) if limit is not None else literal(False)
        columns += [
            _count_if(and_(on, first.is_not(None))).label(f"{channel}_measured"),
            func.avg(case((on, first))).label(f"{channel}_first_avg"),
            func.avg(case((on, average))).label(f"{channel}_average_avg"),
            func.max(case((on, longest))).label(f"{channel}_longest"),
            _count_if(over).label(f"{channel}_first_over"),
        ]
    query = select(*columns).select_from(C)
    if record is not None:
        query = query.outerjoin(record, true())  # a function in FROM sees the row before it (LATERAL)
    query = query.where(in_period(period.since, period.until)).group_by(C.agent_id).order_by(C.agent_id)
    return session.execute(query).all()


def agent_findings(session: Session, *, period: ReportPeriod) -> Rows:
    """(agent, category, severity, findings) for the findings that count."""
    query = (
        select(C.agent_id, F.category, F.severity, func.count().label("n"))
        .select_from(F)
        .join(C, C.id == F.conversation_id)
        .where(in_period(period.since, period.until), F.kind != PII_KIND, finding_live())
        .group_by(C.agent_id, F.category, F.severity)
    )
    return session.execute(query).all()


def agent_slow_replies(session: Session, *, period: ReportPeriod) -> Rows:
    """(agent, channel, replies over the standard), from the norm:slow_reply findings."""
    query = (
        select(C.agent_id, C.channel, func.count().label("n"))
        .select_from(F)
        .join(C, C.id == F.conversation_id)
        .where(in_period(period.since, period.until), F.rule == SLOW_REPLY_RULE, finding_live())
        .group_by(C.agent_id, C.channel)
    )
    return session.execute(query).all()


def agent_negative_endings(
    session: Session,
    *,
    period: ReportPeriod,
    emotions: Sequence[str],
    min_confidence: float,
    cues: Sequence[str] = (),
) -> Rows:
    """(agent, conversations whose last customer turn is negative).

    Negative as rules.yaml `negative_turn` says, like the audit itself: the emotion model's label and
    confidence where it ran, else (no emotion stored for the turn) one of its cue words in the turn's text.
    Starts from the few negative customer turns (ix_utterances_emotion; the cue-word arm only reads turns
    without an emotion, none when the model runs) and keeps those with no later customer turn (the unique
    (conversation_id, index) index answers that), rather than finding every conversation's last customer turn.
    """
    later = aliased(Utterance)
    no_later_customer_turn = ~exists().where(
        later.conversation_id == U.conversation_id, later.speaker == "customer", later.index > U.index
    )
    negative = and_(U.emotion.in_(list(emotions)), U.emotion_confidence >= min_confidence)
    if cues:
        by_cue = and_(U.emotion.is_(None), or_(*(U.text.contains(cue, autoescape=True) for cue in cues)))
        negative = or_(negative, by_cue)
    query = (
        select(C.agent_id, func.count().label("n"))  # one last customer turn per conversation
        .select_from(U)
        .join(C, C.id == U.conversation_id)
        .where(
            in_period(period.since, period.until), U.speaker == "customer", negative, no_later_customer_turn
        )
        .group_by(C.agent_id)
    )
    return session.execute(query).all()


def agent_appeals(session: Session, *, period: ReportPeriod) -> Rows:
    """(agent, appeals filed, appeals overturned) on the period's conversations."""
    query = (
        select(
            C.agent_id,
            func.count().label("filed"),
            _count_if(Appeal.status == AppealStatus.OVERTURNED).label("overturned"),
        )
        .select_from(Appeal)
        .join(C, C.id == Appeal.conversation_id)
        .where(in_period(period.since, period.until))
        .group_by(C.agent_id)
    )
    return session.execute(query).all()


# --- per day -----------------------------------------------------------------------------------------


def _analysed_sum(dialect: str) -> ColumnElement[Any]:
    """Sum of the day's `analysed_at`: with the count, the fingerprint of its keywords (app/reports/day_cache)."""
    if dialect == "postgresql":
        return func.sum(func.extract("epoch", C.analysed_at))  # numeric: exact
    return func.sum(func.julianday(C.analysed_at))


def daily_volume(session: Session, *, period: ReportPeriod, dialect: str) -> Rows:
    """Per local day: conversations by channel, flagged, severity mix, mean score, keywords' fingerprint."""
    day = local_day(C.started_at, dialect=dialect, period=period).label("day")
    query = (
        select(
            day,
            func.count().label("conversations"),
            *(_count_if(C.channel == ch).label(ch) for ch in CHANNELS),
            _count_if(C.flagged.is_(True)).label("flagged"),
            *(_count_if(C.severity == level).label(f"severity_{level}") for level in range(4)),
            func.avg(C.score).label("mean_score"),
            _analysed_sum(dialect).label("analysed_sum"),
        )
        .where(in_period(period.since, period.until))
        .group_by(day)
        .order_by(day)
    )
    return session.execute(query).all()


def daily_top_keywords(session: Session, *, period: ReportPeriod, dialect: str) -> Rows:
    """(day, term, conversations) for each day's most frequent customer keywords, ranked in SQL."""
    days_query = select(
        C.id.label("id"), local_day(C.started_at, dialect=dialect, period=period).label("day")
    ).where(in_period(period.since, period.until))
    if dialect == "postgresql":
        # OFFSET 0 keeps PostgreSQL from merging the subquery into the join, so the day is worked out once per
        # conversation rather than once per keyword row (0.65 s instead of 0.8-0.95 s over 100,000 conversations).
        days_query = days_query.offset(0)
    days = days_query.subquery()
    # Grouped and ranked by code point: the same order on both backends, and PostgreSQL's fastest comparison.
    term = _bytewise(K.term, dialect)
    per_day = (
        select(days.c.day, term.label("term"), func.count().label("n"))
        .select_from(K)
        .join(days, days.c.id == K.conversation_id)
        .where(K.speaker == "customer")
        .group_by(days.c.day, term)
        .subquery()
    )
    order = (per_day.c.n.desc(), per_day.c.term)
    rank = func.row_number().over(partition_by=per_day.c.day, order_by=order).label("rank")
    ranked = select(per_day.c.day, per_day.c.term, per_day.c.n, rank).subquery()
    query = (
        select(ranked.c.day, ranked.c.term, ranked.c.n)
        .where(ranked.c.rank <= TOP_KEYWORDS)
        .order_by(ranked.c.day, ranked.c.rank)
    )
    return session.execute(query).all()


def rising_keywords(session: Session, *, period: ReportPeriod, dialect: str) -> Rows:
    """(term, conversations now, conversations in the previous period) for the keywords that rose most."""
    previous = period.previous
    now = C.started_at >= period.since
    current_n = _count_if(now)
    previous_n = _count_if(~now)
    query = (
        select(K.term, current_n.label("n"), previous_n.label("previous"))
        .select_from(K)
        .join(C, C.id == K.conversation_id)
        .where(in_period(previous.since, period.until), K.speaker == "customer")
        .group_by(K.term)
        .having(current_n > previous_n)
        .order_by((current_n - previous_n).desc(), current_n.desc(), _bytewise(K.term, dialect))
        .limit(RISING_KEYWORDS)
    )
    return session.execute(query).all()


# --- per rule ----------------------------------------------------------------------------------------


def rule_outcomes(session: Session, *, period: ReportPeriod, by_category: bool) -> Rows:
    """Per rule (or per sensitive-word category): hits, conversations, review outcomes, overturned.

    Reviews belong to conversations: findings are first summed per (rule, conversation), then those rows per
    rule, which counts conversations without a COUNT(DISTINCT) per outcome.
    """
    live = finding_live()
    name = F.category if by_category else F.rule
    where = [in_period(period.since, period.until), F.kind != PII_KIND]
    if by_category:
        where.append(F.kind == "sensitive_word")
    per_conversation = (
        select(
            name.label("name"),
            F.kind.label("kind"),
            C.review_status.label("review_status"),
            _count_if(live).label("hits"),
            _count_if(~live).label("overturned"),
        )
        .select_from(F)
        .join(C, C.id == F.conversation_id)
        .where(*where)
        .group_by(name, F.kind, C.id, C.review_status)
        .subquery()
    )
    pc = per_conversation.c
    hit = pc.hits > 0
    query = (
        select(
            pc.name,
            pc.kind,
            func.sum(pc.hits).label("hits"),
            _count_if(hit).label("conversations"),
            _count_if(and_(hit, pc.review_status.in_(("reviewed", "dismissed")))).label("reviewed"),
            _count_if(and_(hit, pc.review_status == "reviewed")).label("confirmed"),
            _count_if(and_(hit, pc.review_status == "dismissed")).label("dismissed"),
            func.sum(pc.overturned).label("overturned"),
        )
        .group_by(pc.name, pc.kind)
        .order_by(pc.name, pc.kind)
    )
    return session.execute(query).all()
