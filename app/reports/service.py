"""Build the three reports from the aggregate queries; only a few rows per agent, day or rule reach Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from app.reports import day_cache, queries
from app.reports.period import ReportPeriod, local_midnight
from app.reports.schemas import (
    AgentReport,
    AgentRow,
    DailyReport,
    DayRow,
    KeywordCount,
    Period,
    ResponseTimes,
    RisingKeyword,
    RuleRow,
    RulesReport,
)
from pipelines.rules import RuleSet
from pipelines.types import Severity

SEVERITY_LABELS = {int(s): s.label for s in Severity}


def _period(period: ReportPeriod) -> Period:
    return Period(since=period.since, until=period.until, timezone=period.zone.key)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _round(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def standards(rules: RuleSet) -> dict[str, int | None]:
    """The first-response limit per channel from rules.yaml (phone 30 s, chat 60 s); None: not checked."""
    norm = rules.norm("first_response")
    return {ch: (norm.limit_for(ch) if norm is not None else None) for ch in queries.CHANNELS}


def _response_times(
    row: Row[*tuple[Any, ...]], channel: str, standard: int | None, slow: int
) -> ResponseTimes:
    longest = getattr(row, f"{channel}_longest")
    return ResponseTimes(
        conversations=int(getattr(row, f"{channel}_measured")),
        standard_ms=standard,
        first_avg_ms=_round(getattr(row, f"{channel}_first_avg")),
        average_avg_ms=_round(getattr(row, f"{channel}_average_avg")),
        longest_ms=None if longest is None else int(longest),
        first_over_standard=int(getattr(row, f"{channel}_first_over")),
        slow_replies=slow,
    )


def agent_report(session: Session, *, period: ReportPeriod, rules: RuleSet) -> AgentReport:
    """Per agent: volume, scores, flags, findings, response times, negative endings, reviews, appeals."""
    dialect = _dialect(session)
    queries.tune_for_reports(session, dialect=dialect)
    limits = standards(rules)
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_severity: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in queries.agent_findings(session, period=period):
        by_category[f.agent_id][f.category] += f.n
        by_severity[f.agent_id][SEVERITY_LABELS.get(f.severity, str(f.severity))] += f.n
    slow = {(r.agent_id, r.channel): int(r.n) for r in queries.agent_slow_replies(session, period=period)}
    negative = {
        r.agent_id: int(r.n)
        for r in queries.agent_negative_endings(
            session,
            period=period,
            emotions=sorted(rules.negative_turn.emotions),
            min_confidence=rules.negative_turn.min_confidence,
            cues=rules.negative_turn.cues,
        )
    }
    appeals = {r.agent_id: r for r in queries.agent_appeals(session, period=period)}
    agents = []
    for row in queries.agent_conversations(session, period=period, standards=limits, dialect=dialect):
        total, flagged, ending_negative = (
            int(row.conversations),
            int(row.flagged),
            negative.get(row.agent_id, 0),
        )
        appeal = appeals.get(row.agent_id)
        agents.append(
            AgentRow(
                agent_id=row.agent_id,
                conversations=total,
                mean_score=_round(row.mean_score),
                lowest_score=_round(row.lowest_score),
                flagged=flagged,
                flag_rate=_rate(flagged, total),
                findings_by_category=dict(sorted(by_category[row.agent_id].items())),
                findings_by_severity={
                    label: by_severity[row.agent_id].get(label, 0) for label in SEVERITY_LABELS.values()
                },
                phone=_response_times(row, "phone", limits["phone"], slow.get((row.agent_id, "phone"), 0)),
                chat=_response_times(row, "chat", limits["chat"], slow.get((row.agent_id, "chat"), 0)),
                customers_ending_negative=ending_negative,
                negative_ending_rate=_rate(ending_negative, total),
                confirmed=int(row.confirmed),
                dismissed=int(row.dismissed),
                appeals_filed=int(appeal.filed) if appeal else 0,
                appeals_overturned=int(appeal.overturned) if appeal else 0,
            )
        )
    return AgentReport(period=_period(period), agents=agents)


def _top_keywords(
    session: Session, *, period: ReportPeriod, dialect: str, volume: dict[str, Any]
) -> dict[str, list[KeywordCount]]:
    """Each day's top keywords: from the cache where the day's fingerprint still matches, else ranked in SQL."""
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    fingerprints = {day: (int(row.conversations), row.analysed_sum) for day, row in volume.items()}
    found: dict[str, tuple[tuple[str, int], ...]] = {}
    for day, fingerprint in fingerprints.items():
        terms = day_cache.TOP_KEYWORDS.get((database, period.zone.key, day), fingerprint)
        if terms is not None:
            found[day] = terms
    span = day_cache.stale_span(sorted(fingerprints), found)
    if span is not None:
        # One query over the local days from the first to the last stale one (usually just today).
        first, last = (date.fromisoformat(day) for day in span)
        stale = ReportPeriod(
            since=max(period.since, local_midnight(first, period.zone)),
            until=min(period.until, local_midnight(last + timedelta(days=1), period.zone)),
            zone=period.zone,
        )
        ranked: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for k in queries.daily_top_keywords(session, period=stale, dialect=dialect):
            ranked[str(k.day)].append((k.term, int(k.n)))
        for day in fingerprints:
            if span[0] <= day <= span[1] and day not in found:
                found[day] = tuple(ranked.get(day, ()))
                day_cache.TOP_KEYWORDS.put((database, period.zone.key, day), fingerprints[day], found[day])
    return {
        day: [KeywordCount(term=term, conversations=n) for term, n in terms] for day, terms in found.items()
    }


def daily_report(session: Session, *, period: ReportPeriod) -> DailyReport:
    """Per local day: volume by channel, flagged, severity mix, mean score, top keywords; rising keywords."""
    dialect = _dialect(session)
    queries.tune_for_reports(session, dialect=dialect)
    rows = {str(r.day): r for r in queries.daily_volume(session, period=period, dialect=dialect)}
    keywords = _top_keywords(session, period=period, dialect=dialect, volume=rows)
    days = []
    # Every day of the period is listed, a quiet one with zeros, so charts and spreadsheets have no gaps.
    for day in period.local_days():
        key = day.isoformat()
        row = rows.get(key)
        days.append(
            DayRow(
                day=day,
                conversations=int(row.conversations) if row else 0,
                by_channel={ch: int(getattr(row, ch)) if row else 0 for ch in queries.CHANNELS},
                flagged=int(row.flagged) if row else 0,
                severity_mix={
                    label: int(getattr(row, f"severity_{level}")) if row else 0
                    for level, label in SEVERITY_LABELS.items()
                },
                mean_score=_round(row.mean_score) if row else None,
                top_keywords=keywords.get(key, []),
            )
        )
    rising = [
        RisingKeyword(
            term=r.term, conversations=int(r.n), previous=int(r.previous), change=int(r.n - r.previous)
        )
        for r in queries.rising_keywords(session, period=period, dialect=dialect)
    ]
    return DailyReport(
        period=_period(period), previous_period=_period(period.previous), days=days, rising_keywords=rising
    )


def rules_report(session: Session, *, period: ReportPeriod, min_reviews: int) -> RulesReport:
    """Per rule, then per sensitive-word category: hits, review outcomes, precision, overturned."""
    queries.tune_for_reports(session, dialect=_dialect(session))
    out: list[RuleRow] = []
    for group, by_category in (("rule", False), ("category", True)):
        for r in queries.rule_outcomes(session, period=period, by_category=by_category):
            reviewed = int(r.reviewed)
            out.append(
                RuleRow(
                    group=group,
                    name=r.name,
                    kind=r.kind,
                    hits=int(r.hits),
                    conversations=int(r.conversations),
                    reviewed=reviewed,
                    confirmed=int(r.confirmed),
                    dismissed=int(r.dismissed),
                    precision=round(int(r.confirmed) / reviewed, 4) if reviewed >= min_reviews else None,
                    overturned=int(r.overturned),
                )
            )
    return RulesReport(period=_period(period), min_reviews_for_precision=min_reviews, rules=out)


def now() -> datetime:
    """The current time (the default period ends at the next local midnight)."""
    return datetime.now(UTC)
