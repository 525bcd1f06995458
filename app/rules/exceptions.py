"""Errors of the rules domain (all in the API's one error format)."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound


class InvalidRules(AppError):
    """A candidate or new rules YAML (or lexicon entry) that does not validate; nothing changed."""

    status_code = 422
    code = "invalid_rules"


class RuleVersionNotFound(NotFound):
    code = "rule_version_not_found"


class RuleVersionConflict(Conflict):
    code = "rule_version_conflict"
