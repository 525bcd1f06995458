"""Errors of the reports domain."""

from __future__ import annotations

from app.errors import Unprocessable


class PeriodTooLong(Unprocessable):
    """A period (after defaults are filled in) longer than a report covers."""

    code = "period_too_long"
