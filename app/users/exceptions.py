"""Errors of signing in; all in the API's one error format."""

from __future__ import annotations

from app.errors import AppError, Conflict, Unauthorized, Unprocessable


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class AccountLocked(AppError):
    """Too many failed sign-ins: the account waits out the lock-out (the answer says how long)."""

    status_code = 429
    code = "account_locked"


class TooManySignIns(AppError):
    """Too many failed sign-ins from one client address: it waits out the lock-out window."""

    status_code = 429
    code = "too_many_sign_ins"


class SessionExpired(Unauthorized):
    code = "session_expired"


class CsrfFailed(AppError):
    status_code = 403
    code = "csrf_failed"


class UserExists(Conflict):
    code = "user_exists"


class InvalidUser(Unprocessable):
    code = "invalid_user"
