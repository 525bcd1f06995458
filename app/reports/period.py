"""The report period and the centre's local day of a timestamp, computed in SQL on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, SQLColumnExpression, String, case, cast, func, literal
from sqlalchemy.sql.elements import ColumnElement

from app.db.base import UTCDateTime
from app.reports.exceptions import PeriodTooLong
from app.reports.schemas import MAX_PERIOD_DAYS

DEFAULT_DAYS = 7


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """[since, until) in UTC, read and grouped in `zone`."""

    since: datetime
    until: datetime
    zone: ZoneInfo

    @property
    def previous(self) -> ReportPeriod:
        """The period of the same length just before this one (for rising keywords)."""
        return ReportPeriod(since=self.since - (self.until - self.since), until=self.since, zone=self.zone)

    def local_days(self) -> list[date]:
        """Every local calendar day the period touches, in order."""
        first = self.since.astimezone(self.zone).date()
        last = (self.until - timedelta(microseconds=1)).astimezone(self.zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def resolve_period(
    *, since: datetime | None, until: datetime | None, zone: ZoneInfo, now: datetime
) -> ReportPeriod:
    """The requested period; by default the last 7 local days up to and including today."""
    if until is None:
        until = local_midnight(now.astimezone(zone).date() + timedelta(days=1), zone)
        if since is not None and since >= until:
            until = since + timedelta(days=DEFAULT_DAYS)
    if since is None:
        since = local_midnight(until.astimezone(zone).date() - timedelta(days=DEFAULT_DAYS), zone)
        if until.astimezone(zone).time() != time():
            since += timedelta(days=1)  # a mid-day `until`: its own day counts as one of the seven
    if until - since > timedelta(days=MAX_PERIOD_DAYS):
        # Only reachable with one bound given: the query model already refuses two bounds this far apart.
        raise PeriodTooLong(
            f"a report covers at most {MAX_PERIOD_DAYS} days; give `since` and `until` closer together",
            details={"since": since.isoformat(), "until": until.isoformat()},
        )
    return ReportPeriod(since=since.astimezone(UTC), until=until.astimezone(UTC), zone=zone)


def _offset_minutes(moment: datetime, zone: ZoneInfo) -> int:
    offset = moment.astimezone(zone).utcoffset() or timedelta()
    return int(offset.total_seconds() // 60)


def offset_segments(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, int]]:
    """[(UTC instant from which it applies, UTC offset in minutes)] covering [start, end), first at `start`.

    Found by stepping hours (no zone changes its offset twice within one) and bisecting each change to
    the minute, so a period with daylight-saving changes gets one segment per offset.
    """
    segments = [(start, _offset_minutes(start, zone))]
    step = timedelta(hours=1)
    cursor = start
    while cursor < end:
        nxt = min(cursor + step, end)
        if _offset_minutes(nxt, zone) != segments[-1][1]:
            low, high = cursor, nxt
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                if _offset_minutes(mid, zone) == segments[-1][1]:
                    low = mid
                else:
                    high = mid
            segments.append((high, _offset_minutes(high, zone)))
        cursor = nxt
    return segments


def local_day(
    column: SQLColumnExpression[datetime], *, dialect: str, period: ReportPeriod
) -> ColumnElement[Any]:
    """The local calendar day of `column` in the centre's time zone, as a SQL expression to GROUP BY.

    PostgreSQL gives a DATE, SQLite the text 'YYYY-MM-DD'; `str()` of either is the ISO day.
    """
    if dialect == "postgresql":
        # timezone(zone, timestamptz) is the wall-clock time there (PostgreSQL knows the zone's rules); a DATE
        # groups and sorts faster than its text.
        return cast(func.timezone(period.zone.key, column), Date)
    # SQLite stores UTC text and has no zone rules: shift by the offset in force, one CASE arm per offset
    # the period spans (Asia/Shanghai: a single arm).
    segments = offset_segments(period.since, period.until, period.zone)

    def shifted(minutes: int) -> ColumnElement[str]:
        return func.strftime("%Y-%m-%d", column, f"{minutes:+d} minutes", type_=String)

    if len(segments) == 1:
        return shifted(segments[0][1])
    arms = [
        (column < literal(segments[i + 1][0], UTCDateTime()), shifted(minutes))
        for i, (_, minutes) in enumerate(segments[:-1])
    ]
    return case(*arms, else_=shifted(segments[-1][1]))
