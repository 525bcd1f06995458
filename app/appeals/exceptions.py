"""Errors of the appeals domain (all in the API's one error format)."""

from __future__ import annotations

from app.errors import Conflict, NotFound


class FindingNotFound(NotFound):
    code = "finding_not_found"


class AppealNotFound(NotFound):
    code = "appeal_not_found"


class AppealAlreadyOpen(Conflict):
    code = "appeal_open"


class FindingOverturned(Conflict):
    code = "finding_overturned"


class AppealDecided(Conflict):
    code = "appeal_decided"
