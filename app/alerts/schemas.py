"""API models of alerts: the alert, its delivery log, the listing query, the live count."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.alerts.enums import AlertScope, DeliveryStatus, TargetKind
from app.schemas_common import DATETIME_RULE, LocalDatetime, SafeStr
from pipelines.types import Severity

AlertSeverity = Literal["general", "important", "major"]


class AlertRead(BaseModel):
    """One alert: which rule fired, about whom, why, and whether someone has acknowledged it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    rule: str
    rule_name: str
    severity: AlertSeverity
    scope: AlertScope
    conversation_id: uuid.UUID | None = Field(
        description="the conversation that raised it (for agent_day: the last)"
    )
    external_id: str | None
    agent_id: str
    day: str | None = Field(description="agent_day alerts: the day, YYYY-MM-DD in AUDIT_TIMEZONE")
    analysed_at: datetime | None = Field(description="when the audit that raised the alert was recorded")
    title: str
    summary: str
    details: dict[str, Any]
    lexicon_version: str | None
    acknowledged: bool
    acknowledged_at: datetime | None
    acknowledged_by_id: uuid.UUID | None = Field(description="the key (or user) that acknowledged it")
    acknowledged_by_name: str | None
    acknowledged_by_role: str | None

    @field_validator("severity", mode="before")
    @classmethod
    def _severity_name(cls, value: Any) -> Any:
        return Severity(value).label if isinstance(value, int) else value


class DeliveryAttempt(BaseModel):
    """One try: when, the answer's status code (None: no answer), the error (None: delivered), how long."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryRead(BaseModel):
    """The delivery of an alert to one configured target, with every attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    target: str
    kind: TargetKind
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="when the next try is due (pending only)")
    delivered_at: datetime | None
    last_error: str | None
    log: list[DeliveryAttempt] = Field(validation_alias="attempts_log")

    @model_validator(mode="after")
    def _no_next_when_done(self) -> DeliveryRead:
        if self.status != DeliveryStatus.PENDING:
            self.next_attempt_at = None
        return self


class AlertDetail(AlertRead):
    """An alert with its delivery log."""

    deliveries: list[DeliveryRead]


class AlertQuery(BaseModel):
    """Query of `GET /v1/alerts`: every filter optional; unacknowledged first, then newest."""

    model_config = ConfigDict(extra="forbid")

    acknowledged: bool | None = None
    severity: AlertSeverity | None = None
    rule: SafeStr | None = Field(default=None, max_length=64)
    since: LocalDatetime | None = Field(default=None, description="raised at or after; " + DATETIME_RULE)
    until: LocalDatetime | None = Field(default=None, description="raised before; " + DATETIME_RULE)
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page, as returned")
    limit: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _ordered(self) -> AlertQuery:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self


class AlertSummary(BaseModel):
    """The console header's count: unacknowledged alerts, by severity, and the newest alert's id and time."""

    unacknowledged: int
    unacknowledged_by_severity: dict[AlertSeverity, int]
    latest_id: uuid.UUID | None
    latest_created_at: datetime | None
