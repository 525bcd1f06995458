"""Sign-in for the console: `POST /v1/auth/login`, `POST /v1/auth/logout`, `GET /v1/auth/me`."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request, Response, status

from app.auth.dependencies import Caller
from app.auth.principal import PrincipalKind
from app.db.session import session_scope
from app.deps import AppSettings, DbSession
from app.errors import AppError, error_responses
from app.settings import Settings
from app.users import service
from app.users.schemas import LoginRequest, Me
from app.users.sessions import clear_session_cookie, cookie_token, set_session_cookie
from app.users.throttle import LoginThrottle

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def _me(signed_in: service.SignedIn, settings: Settings) -> Me:
    user, row = signed_in.user, signed_in.session
    return Me(
        id=user.id,
        kind=PrincipalKind.USER,
        name=user.name,
        role=user.role,
        agent_id=user.agent_id,
        csrf_token=row.csrf_token,
        expires_at=row.expires_at,
        timezone=settings.timezone,
    )


_THROTTLE_LOCK = threading.Lock()


def _throttle(request: Request, settings: Settings) -> LoginThrottle:
    """The app's in-memory sign-in counters, made on first use (one per app, so tests do not share them)."""
    state = request.app.state
    with _THROTTLE_LOCK:
        throttle: LoginThrottle | None = getattr(state, "login_throttle", None)
        if throttle is None:
            throttle = LoginThrottle.create(
                max_failures=settings.login_max_failures,
                per_address=settings.login_max_failures_per_address,
                minutes=settings.login_lockout_minutes,
            )
            state.login_throttle = throttle
        return throttle


@router.post("/login", response_model=Me, responses=error_responses(400, 401, 422, 429))
def login(payload: LoginRequest, request: Request, response: Response, settings: AppSettings) -> Me:
    """Sign in with a user name and password: sets the HttpOnly session cookie and returns the CSRF token.

    Wrong passwords are counted per account; after `AUDIT_LOGIN_MAX_FAILURES` (5) within
    `AUDIT_LOGIN_LOCKOUT_MINUTES` (15) the account is locked that long (429 `account_locked`). A name without
    an account is locked out the same way. `AUDIT_LOGIN_MAX_FAILURES_PER_ADDRESS` (30) failures from one client
    address within the window make it wait that long (429 `too_many_sign_ins`).
    """
    # Its own transaction, committed before a refusal is raised: the failure count must outlive the 401.
    with session_scope(request.app.state.session_factory) as session:
        outcome = service.sign_in(
            session,
            name=payload.username,
            password=payload.password,
            settings=settings,
            throttle=_throttle(request, settings),
            address=request.client.host if request.client else None,
        )
        me = None if isinstance(outcome, AppError) else _me(outcome, settings)
        if me is not None and (previous := cookie_token(request)) is not None:
            service.sign_out(session, token=previous)  # a browser holds one session: the old one ends
    if isinstance(outcome, AppError):
        raise outcome
    assert me is not None
    set_session_cookie(response, request, token=outcome.token, settings=settings)
    return me


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403))
def logout(request: Request, session: DbSession, settings: AppSettings, _caller: Caller) -> Response:
    """Sign out: the session ends on the server and the cookie is cleared (a no-op for API keys)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    token = cookie_token(request)
    if token is not None:
        service.sign_out(session, token=token)
        clear_session_cookie(response, request, settings=settings)
    return response


@router.get("/me", response_model=Me, responses=error_responses(401, 403))
def auth_me(request: Request, session: DbSession, settings: AppSettings, caller: Caller) -> Me:
    """Who is calling: the signed-in user (with the session's CSRF token) or the API key."""
    row = None
    token = cookie_token(request)
    if caller.kind == PrincipalKind.USER and token is not None:
        row = service.find_session(session, token=token, settings=settings, touch=False)
    return Me(
        id=caller.id,
        kind=caller.kind,
        name=caller.name,
        role=caller.role,
        agent_id=caller.agent_id,
        csrf_token=row.csrf_token if row else None,
        expires_at=row.expires_at if row else None,
        timezone=settings.timezone,
    )
