"""API models of the reports (separate from the ORM tables): the period query and the three report shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas_common import DATETIME_RULE, LocalDatetime

MAX_PERIOD_DAYS = 366
ReportFormat = Literal["json", "csv", "xlsx"]


class ReportQuery(BaseModel):
    """`?since=&until=&format=`: the period is [since, until) by the conversations' start time."""

    model_config = ConfigDict(extra="forbid")

    since: LocalDatetime | None = Field(
        default=None, description="started at or after (default: 7 days before `until`); " + DATETIME_RULE
    )
    until: LocalDatetime | None = Field(
        default=None, description="started before (default: the next local midnight); " + DATETIME_RULE
    )
    format: ReportFormat = Field(
        default="json", description="json, or a download: csv (UTF-8 with BOM), xlsx"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReportQuery:
        if self.since is not None and self.until is not None:
            if self.since >= self.until:
                raise ValueError("`since` must be before `until`")
            if (self.until - self.since).total_seconds() > MAX_PERIOD_DAYS * 86400:
                raise ValueError(f"a report covers at most {MAX_PERIOD_DAYS} days")
        return self


class Period(BaseModel):
    """The period a report covers, and the centre's time zone its days are counted in."""

    since: datetime
    until: datetime
    timezone: str


class ResponseTimes(BaseModel):
    """Response times of one channel, in ms, against that channel's standard (rules.yaml)."""

    conversations: int = Field(description="conversations of this channel with a measured first response")
    standard_ms: int | None = Field(description="the channel's limit in rules.yaml (phone 30 s, chat 60 s)")
    first_avg_ms: float | None = Field(description="mean first response")
    average_avg_ms: float | None = Field(description="mean of each conversation's average response")
    longest_ms: int | None = Field(description="the longest single response")
    first_over_standard: int = Field(description="conversations whose first response broke the standard")
    slow_replies: int = Field(description="replies over the standard (findings norm:slow_reply)")


class AgentRow(BaseModel):
    agent_id: str
    conversations: int
    mean_score: float | None
    lowest_score: float | None
    flagged: int
    flag_rate: float
    findings_by_category: dict[str, int]
    findings_by_severity: dict[str, int]
    phone: ResponseTimes
    chat: ResponseTimes
    customers_ending_negative: int
    negative_ending_rate: float
    confirmed: int = Field(description="conversations a supervisor reviewed (flag confirmed)")
    dismissed: int = Field(description="conversations a supervisor dismissed")
    appeals_filed: int
    appeals_overturned: int


class AgentReport(BaseModel):
    period: Period
    agents: list[AgentRow]


class KeywordCount(BaseModel):
    term: str
    conversations: int


class RisingKeyword(BaseModel):
    term: str
    conversations: int = Field(description="conversations of this period with the keyword")
    previous: int = Field(description="the same in the previous period of the same length")
    change: int


class DayRow(BaseModel):
    day: date
    conversations: int
    by_channel: dict[str, int]
    flagged: int
    severity_mix: dict[str, int] = Field(description="conversations by their highest severity")
    mean_score: float | None
    top_keywords: list[KeywordCount]


class DailyReport(BaseModel):
    period: Period
    previous_period: Period
    days: list[DayRow]
    rising_keywords: list[RisingKeyword]


class RuleRow(BaseModel):
    group: Literal["rule", "category"] = Field(description="a rule, or a sensitive-word category")
    name: str
    kind: str
    hits: int = Field(description="findings (overturned ones excluded)")
    conversations: int
    reviewed: int = Field(description="of those conversations, reviewed or dismissed by a supervisor")
    confirmed: int
    dismissed: int
    precision: float | None = Field(description="confirmed / reviewed, once reviewed reaches the minimum")
    overturned: int = Field(description="findings overturned on appeal")


class RulesReport(BaseModel):
    period: Period
    min_reviews_for_precision: int
    rules: list[RuleRow]
