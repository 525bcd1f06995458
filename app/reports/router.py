"""Report endpoints: per agent, per day, per rule; JSON or a download (`?format=csv` / `?format=xlsx`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.auth.dependencies import Caller
from app.deps import AppSettings, DbSession, Runtime
from app.errors import error_responses
from app.reports import export, service
from app.reports.period import ReportPeriod, resolve_period
from app.reports.schemas import AgentReport, DailyReport, ReportQuery, RulesReport
from app.schemas_common import centre_timezone

router = APIRouter(prefix="/v1/reports", tags=["reports"])

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {} for media in MEDIA_TYPES.values()}, "description": "the report"},
    **error_responses(401, 403, 422),
}

Query_ = Annotated[ReportQuery, Query()]


def _period(query: ReportQuery) -> ReportPeriod:
    return resolve_period(since=query.since, until=query.until, zone=centre_timezone(), now=service.now())


def _download(
    name: str, period: ReportPeriod, fmt: str, tables: Callable[[], Sequence[export.Table]]
) -> Response:
    local = period.zone
    first = period.since.astimezone(local).strftime("%Y%m%d")
    last = period.until.astimezone(local).strftime("%Y%m%d")
    body = export.to_csv(tables()) if fmt == "csv" else export.to_xlsx(tables())
    # An ASCII name only (report-agents-20261120-20261127.csv): no quoting or RFC 5987 encoding needed.
    filename = f"report-{name}-{first}-{last}.{fmt}"
    return Response(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/agents", response_model=AgentReport, responses=_DOWNLOADS)
def get_agent_report(
    query: Query_, session: DbSession, runtime: Runtime, _key: Caller
) -> AgentReport | Response:
    """Per agent over [since, until): conversations, mean and lowest score, flag rate, findings by category and
    severity, response times (phone and chat apart, against the rules.yaml standards), customers ending
    negative, review outcomes and appeals. Default period: the last 7 days in the centre's time zone."""
    period = _period(query)
    report = service.agent_report(session, period=period, rules=runtime.pipeline.stages.rules)
    if query.format == "json":
        return report
    return _download("agents", period, query.format, lambda: export.agent_tables(report))


@router.get("/daily", response_model=DailyReport, responses=_DOWNLOADS)
def get_daily_report(query: Query_, session: DbSession, _key: Caller) -> DailyReport | Response:
    """Per day in the centre's time zone: volume by channel, flagged, severity mix, mean score, top customer
    keywords; and the keywords rising most against the previous period of the same length."""
    period = _period(query)
    report = service.daily_report(session, period=period)
    if query.format == "json":
        return report
    return _download("daily", period, query.format, lambda: export.daily_tables(report))


@router.get("/rules", response_model=RulesReport, responses=_DOWNLOADS)
def get_rules_report(
    query: Query_, session: DbSession, settings: AppSettings, _key: Caller
) -> RulesReport | Response:
    """Per rule and per sensitive-word category: hits, reviewed, confirmed, dismissed, precision (confirmed /
    reviewed, shown once `AUDIT_REPORT_PRECISION_MIN_REVIEWS` conversations were reviewed) and overturned."""
    period = _period(query)
    report = service.rules_report(session, period=period, min_reviews=settings.report_precision_min_reviews)
    if query.format == "json":
        return report
    return _download("rules", period, query.format, lambda: export.rules_tables(report))
