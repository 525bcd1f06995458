"""Errors of the alerts domain."""

from __future__ import annotations

from app.errors import AppError, NotFound


class AlertNotFound(NotFound):
    """No alert with that id."""

    code = "alert_not_found"


class TooManyStreams(AppError):
    """Every live-feed slot is taken (each open stream holds a request slot): poll the summary instead."""

    status_code = 503
    code = "too_many_streams"
