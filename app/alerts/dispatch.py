"""Sending pending alert deliveries: a plain function over a session factory, and the thread that runs it.

`dispatch_due` claims the due deliveries in one short transaction (pushing their due time ahead as a lease,
so another dispatcher skips them), sends them with no transaction open, and records every attempt in a
second one: delivered, retried later with exponential backoff, or given up after AUDIT_ALERT_MAX_ATTEMPTS.
A task-queue worker can call it as it is; `AlertDispatcher` runs it in the service process, woken when this
process commits an alert and polling for the ones other processes write.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.alerts import config as alert_config
from app.alerts import formats, repository, wake
from app.alerts.config import AlertConfig
from app.alerts.enums import DeliveryStatus, TargetKind
from app.alerts.schemas import AlertRead
from app.db import AlertDelivery
from app.db.base import utcnow
from app.db.session import session_scope
from app.webhooks.sender import PostResult, post_guarded

log = logging.getLogger(__name__)
_CLAIM_BATCH = 50
_ROBOT_ANSWER_BYTES = 4096
# A receiver's "no" that a retry will not change; 408/425/429 and 5xx are worth another try.
_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: uuid.UUID
    target: str
    kind: TargetKind
    alert: dict[str, Any]


def dispatch_due(factory: sessionmaker[Session], *, config: AlertConfig | None = None) -> int:
    """Send every delivery due now, once; returns how many were attempted."""
    config = config or alert_config.for_engine(_engine(factory))
    settings = config.settings
    lease = timedelta(seconds=settings.alert_timeout_seconds * 2 + 30)
    # A read first: on SQLite the claim takes the one write lock, not worth taking when nothing is due.
    if seconds_until_due(factory, config=config, cap=1.0) > 0:
        return 0
    names = [t.name for t in config.targets]
    with session_scope(factory) as s:
        now = utcnow()
        claimed = []
        for row in repository.due_deliveries(s, now=now, targets=names, limit=_CLAIM_BATCH):
            row.next_attempt_at = now + lease  # ours until we record the attempt (or the lease runs out)
            alert = AlertRead.model_validate(row.alert).model_dump(mode="json")
            claimed.append(_Claimed(row.id, row.target, row.kind, alert))
    if not claimed:
        return 0
    workers = min(len(claimed), settings.alert_dispatch_concurrency)
    if workers == 1:
        results = [_send(c, config) for c in claimed]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alert-send") as pool:
            results = list(pool.map(lambda c: _send(c, config), claimed))
    _record(factory, config=config, results=list(zip(claimed, results, strict=True)))
    return len(claimed)


def _send(claimed: _Claimed, config: AlertConfig) -> tuple[PostResult, bool]:
    """One attempt: (its result, whether a retry may help)."""
    target = config.target(claimed.target)
    if target is None:
        return PostResult(None, "target no longer configured", 0.0), False
    message = formats.build(
        target,
        claimed.alert,
        now=time.time(),
        default_secret=config.settings.callback_secret,
        delivery_id=str(claimed.id),
    )
    limit = 0 if target.kind == TargetKind.WEBHOOK else _ROBOT_ANSWER_BYTES
    result = post_guarded(
        message.url,
        message.body,
        headers=message.headers,
        timeout=config.settings.alert_timeout_seconds,
        allowlist=config.allowlist,
        read_limit=limit,
    )
    if result.ok and (robot := formats.robot_error(target.kind, result.body)) is not None:
        result = PostResult(result.status_code, robot, result.duration_ms)
    if result.error is not None:
        log.warning("alert delivery to target %s failed: %s", target.name, result.error)
    code = result.status_code
    error = result.error or ""
    if error.startswith("refused") and "does not resolve" not in error:  # a non-public address stays one
        return result, False
    # No answer, a 5xx, 408/425/429 or a robot's error code in a 200 (rate limits): worth another try.
    return result, code is None or not 400 <= code < 500 or code in _RETRYABLE_4XX


def _record(
    factory: sessionmaker[Session],
    *,
    config: AlertConfig,
    results: list[tuple[_Claimed, tuple[PostResult, bool]]],
) -> None:
    settings = config.settings
    with session_scope(factory) as s:
        now = utcnow()
        # In id order: two transactions updating the same rows lock them in one order (no deadlock).
        for claimed, (result, retry) in sorted(results, key=lambda r: r[0].id):
            row = s.get(AlertDelivery, claimed.id)
            if row is None or row.status != DeliveryStatus.PENDING:
                continue
            attempt = {
                "at": (now - timedelta(milliseconds=result.duration_ms)).isoformat(),  # when it was sent
                "status_code": result.status_code,
                "error": result.error,
                "duration_ms": result.duration_ms,
            }
            row.attempts_log = [*row.attempts_log, attempt]  # a new list: JSON columns track assignment
            row.attempts += 1
            if result.ok:
                row.status = DeliveryStatus.DELIVERED
                row.delivered_at = now
                row.last_error = None
                continue
            row.last_error = result.error
            if not retry or row.attempts >= settings.alert_max_attempts:
                row.status = DeliveryStatus.FAILED
                continue
            backoff = settings.alert_retry_base_seconds * 2 ** (row.attempts - 1)
            row.next_attempt_at = now + timedelta(seconds=min(backoff, settings.alert_retry_max_seconds))


def seconds_until_due(factory: sessionmaker[Session], *, config: AlertConfig, cap: float) -> float:
    """How long until the earliest pending delivery to a configured target is due (at most `cap`)."""
    with session_scope(factory, read_only=True) as s:
        due = repository.next_due(s, targets=[t.name for t in config.targets])
    if due is None:
        return cap
    return max(0.0, min(cap, (due - utcnow()).total_seconds()))


def _engine(factory: sessionmaker[Session]) -> Engine:
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("the session factory must be bound to an engine")
    return bind


class AlertDispatcher:
    """The service process's sender: wakes on this process's commits, polls for the others'."""

    def __init__(self, *, factory: sessionmaker[Session], engine: Engine) -> None:
        self.factory = factory
        self.engine = engine
        self._stop = threading.Event()
        self._wake = wake.register()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sending in a background thread (deliveries left pending by a stopped process go first)."""
        self._thread = threading.Thread(target=self._loop, name="alert-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the attempt in progress (its result is recorded)."""
        self._stop.set()
        self._wake.set()
        wake.unregister(self._wake)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            config = alert_config.for_engine(self.engine)  # the one in force now (a reload swaps it)
            poll = config.settings.alert_poll_seconds
            try:
                while dispatch_due(self.factory, config=config) and not self._stop.is_set():
                    pass
                wait = seconds_until_due(self.factory, config=config, cap=poll)
            except Exception:  # the database away, a bug: keep the thread, try again later
                log.exception("alert dispatch failed; retrying in %.1f s", poll)
                wait = poll
            self._wake.wait(max(wait, 0.01))
