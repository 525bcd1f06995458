"""Waking the dispatchers of this process when a transaction that raised alerts commits.

The alert rows are in the audit's transaction (an outbox): a dispatcher woken before the commit would not see
them, so the wake-up is sent from the session's after_commit event. Other processes' alerts are found by
the dispatchers' polling.
"""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "alerts_raised"
_events: set[threading.Event] = set()
_lock = threading.Lock()


def register() -> threading.Event:
    """An event set whenever alerts were committed in this process."""
    ev = threading.Event()
    with _lock:
        _events.add(ev)
    return ev


def unregister(ev: threading.Event) -> None:
    """Stop setting `ev`."""
    with _lock:
        _events.discard(ev)


def notify() -> None:
    """Wake every registered dispatcher."""
    with _lock:
        for ev in _events:
            ev.set()


def mark(session: Session) -> None:
    """Wake the dispatchers when the session's current transaction commits."""
    session.info[_PENDING] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_PENDING, False):
        notify()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    # Only the outermost rollback discards the alerts; a savepoint rolled back does not.
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
