"""Alert use cases: list, read with the delivery log, acknowledge, count; start-up and reload of the config."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.alerts import config as alert_config
from app.alerts import repository
from app.alerts.dispatch import AlertDispatcher
from app.alerts.exceptions import AlertNotFound
from app.alerts.repository import AlertFilters
from app.alerts.schemas import AlertSummary
from app.alerts.slots import StreamSlots
from app.auth.principal import Principal
from app.db import Alert
from app.db.base import utcnow
from app.settings import Settings
from pipelines.types import Severity


@dataclass
class AlertsRuntime:
    """What the app holds for alerts: the dispatcher thread and the live-feed slots."""

    dispatcher: AlertDispatcher
    stream_slots: StreamSlots

    def stop(self) -> None:
        """Stop the dispatcher (the attempt in progress is recorded first)."""
        self.dispatcher.stop()


def start(settings: Settings, *, engine: Engine, factory: sessionmaker[Session]) -> AlertsRuntime:
    """Validate alerts.yaml and the targets (a broken one stops the start-up) and start the dispatcher."""
    alert_config.install(engine, alert_config.load_config(settings))
    dispatcher = AlertDispatcher(factory=factory, engine=engine)
    dispatcher.start()
    return AlertsRuntime(dispatcher, StreamSlots(settings.alert_max_streams))


def reload(settings: Settings, *, engine: Engine) -> None:
    """Validate and put in force the alert rules and targets again (AlertRulesError, a ValueError, if broken)."""
    alert_config.install(engine, alert_config.load_config(settings))


def list_alerts(
    session: Session, *, filters: AlertFilters, cursor: str | None, limit: int
) -> tuple[list[Alert], str | None, int]:
    """Unacknowledged first, then newest."""
    return repository.search(session, filters=filters, cursor=cursor, limit=limit)


def get_alert(
    session: Session, *, alert_id: uuid.UUID, with_deliveries: bool = False, for_update: bool = False
) -> Alert:
    """One alert or AlertNotFound."""
    alert = repository.get(session, alert_id=alert_id, with_deliveries=with_deliveries, for_update=for_update)
    if alert is None:
        raise AlertNotFound(f"alert {alert_id} not found")
    return alert


def acknowledge(session: Session, *, alert: Alert, by: Principal) -> Alert:
    """Record who acknowledged the alert and when; acknowledging again keeps the first acknowledgement."""
    if not alert.acknowledged:
        alert.acknowledged = True
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by_id = by.id
        alert.acknowledged_by_name = by.name
        alert.acknowledged_by_role = by.role.value
        session.flush()
    return alert


def summary(session: Session) -> AlertSummary:
    """The unacknowledged count (by severity) and the newest alert."""
    counts = repository.unacknowledged_by_severity(session)
    newest = repository.latest(session)
    by_severity = {
        s.label: counts.get(int(s), 0) for s in (Severity.GENERAL, Severity.IMPORTANT, Severity.MAJOR)
    }
    return AlertSummary(
        unacknowledged=sum(counts.values()),
        unacknowledged_by_severity=by_severity,
        latest_id=newest.id if newest else None,
        latest_created_at=newest.created_at if newest else None,
    )
