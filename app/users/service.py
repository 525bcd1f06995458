"""Console accounts and sign-in: argon2 passwords, lock-out after repeated failures, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.policy import Role
from app.db import User, UserSession
from app.db.base import utcnow
from app.errors import AppError, NotFound
from app.privacy import mask_free_text
from app.settings import Settings
from app.users.exceptions import (
    AccountLocked,
    InvalidCredentials,
    InvalidUser,
    TooManySignIns,
    UserExists,
)
from app.users.passwords import (
    MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS,
    hash_password,
    needs_rehash,
    verify_password,
)
from app.users.throttle import LoginThrottle

# A session's idle clock is written at most this often: every request of a busy page must not be a write.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session: the cookie's token is here once and stored only as its hash."""

    user: User
    session: UserSession
    token: str


def hash_token(token: str) -> str:
    """SHA-256 hex of a session token (256 random bits need no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidUser(f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")


def create_user(
    session: Session, *, name: str, role: str, password: str, agent_id: str | None = None
) -> User:
    """Create a console account; an `agent` is bound to the one agent id whose work it may see."""
    name = name.strip()
    if not name or len(name) > 100 or any(not ch.isprintable() for ch in name):
        raise InvalidUser("a user name has 1 to 100 printable characters")
    if mask_free_text(name) != name:
        raise InvalidUser("a user name must not carry personal data (a phone number, an id…)")
    if role not in tuple(Role):
        raise InvalidUser(f"unknown role {role!r}; expected one of {', '.join(Role)}", code="invalid_role")
    if role == "agent" and not agent_id:
        raise InvalidUser("an agent user needs --agent-id: the agent whose conversations it sees")
    _check_password(password)
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise UserExists(f"a user named {name!r} exists")
    user = User(name=name, role=role, agent_id=agent_id or None, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    """All accounts by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def get_user(session: Session, *, name: str) -> User:
    """The account named `name`, or 404."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


def set_password(session: Session, *, name: str, password: str) -> User:
    """Replace a password; every session of the account ends and any lock-out is lifted."""
    _check_password(password)
    user = get_user(session, name=name)
    user.password_hash = hash_password(password)
    _clear_failures(user)
    end_all_sessions(session, user=user)
    return user


def unlock(session: Session, *, name: str) -> User:
    """Lift a lock-out now (an admin who knows the user is who they say)."""
    user = get_user(session, name=name)
    _clear_failures(user)
    session.flush()
    return user


def disable(session: Session, *, name: str) -> User:
    """Refuse the account's sign-ins from now on and end its sessions."""
    user = get_user(session, name=name)
    user.disabled_at = user.disabled_at or utcnow()
    end_all_sessions(session, user=user)
    return user


def end_all_sessions(session: Session, *, user: User) -> None:
    """Revoke every open session of `user`."""
    now = utcnow()
    for row in session.scalars(
        select(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    ):
        row.revoked_at = now
    session.flush()


def _clear_failures(user: User) -> None:
    user.failed_logins = 0
    user.first_failed_at = None
    user.locked_until = None


def _record_failure(user: User, *, now: datetime, settings: Settings) -> None:
    window = timedelta(minutes=settings.login_lockout_minutes)
    if user.first_failed_at is None or now - user.first_failed_at > window:
        user.failed_logins, user.first_failed_at = 0, now
    user.failed_logins += 1
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + window
        user.failed_logins, user.first_failed_at = 0, None


def _minutes(until: datetime, now: datetime) -> int:
    return max(1, round((until - now).total_seconds() / 60))


def _locked(until: datetime, now: datetime) -> AccountLocked:
    minutes = _minutes(until, now)
    return AccountLocked(
        f"too many failed sign-ins: try again in {minutes} minutes or ask an admin to unlock the account",
        details={"locked_until": until, "retry_after_seconds": minutes * 60},
    )


def sign_in(
    session: Session,
    *,
    name: str,
    password: str,
    settings: Settings,
    throttle: LoginThrottle,
    address: str | None,
) -> SignedIn | AppError:
    """Check a password and open a session, or say why not.

    The refusal is returned, not raised, so the caller commits the failure count before answering: a raised
    error would roll it back and the lock-out would never come.
    """
    now = utcnow()
    address_key = f"address:{address}" if address else None
    if address_key is not None and (until := throttle.addresses.locked_until(address_key, now=now)):
        return TooManySignIns(
            "too many failed sign-ins from this address: try again later",
            details={"locked_until": until, "retry_after_seconds": _minutes(until, now) * 60},
        )
    name = name.strip()
    # Locked for update (PostgreSQL): parallel guesses at one account are counted one after the other.
    user = session.scalar(select(User).where(User.name == name).with_for_update())
    if user is None or user.disabled_at is not None:
        # Counted in memory (app/users/throttle.py) and locked out like an account: a 429 says nothing about
        # whether the name exists, and guessed names add no rows.
        unknown_key = f"name:{name}"
        if until := throttle.unknown_names.locked_until(unknown_key, now=now):
            return _locked(until, now)
        verify_password(None, password)  # same time as a wrong password: names cannot be probed by timing
        throttle.unknown_names.fail(unknown_key, now=now)
        if address_key is not None:
            throttle.addresses.fail(address_key, now=now)
        return InvalidCredentials("wrong user name or password")
    if user.locked_until is not None and user.locked_until > now:
        return _locked(user.locked_until, now)
    if not verify_password(user.password_hash, password):
        _record_failure(user, now=now, settings=settings)
        if address_key is not None:
            throttle.addresses.fail(address_key, now=now)
        session.flush()
        return InvalidCredentials("wrong user name or password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    _clear_failures(user)
    user.last_login_at = now
    token = secrets.token_urlsafe(32)
    row = UserSession(
        user_id=user.id,
        token_hash=hash_token(token),
        csrf_token=secrets.token_urlsafe(32),
        expires_at=now + timedelta(hours=settings.session_max_hours),
        last_seen_at=now,
    )
    session.add(row)
    session.flush()
    return SignedIn(user=user, session=row, token=token)


def find_session(
    session: Session, *, token: str, settings: Settings, touch: bool = True
) -> UserSession | None:
    """The open session for a cookie's token: not signed out, not expired, not idle too long, user enabled."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    now = utcnow()
    if (
        row is None
        or row.revoked_at is not None
        or row.expires_at <= now
        or row.last_seen_at + timedelta(minutes=settings.session_idle_minutes) <= now
        or row.user.disabled_at is not None
    ):
        return None
    if touch and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.flush()
    return row


def sign_out(session: Session, *, token: str) -> None:
    """End the session of this cookie (signing out twice is no error)."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
