"""The session cookie: who it signs in, the CSRF check on writes, and how the cookie is set and cleared."""

from __future__ import annotations

import hmac

from fastapi import Request, Response
from sqlalchemy.orm import Session, sessionmaker

from app.auth.policy import Role
from app.auth.principal import Principal, PrincipalKind
from app.settings import Settings
from app.users import service
from app.users.exceptions import CsrfFailed, SessionExpired

SESSION_COOKIE = "audit_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_token(request: Request) -> str | None:
    """The session token the browser sent, if any."""
    return request.cookies.get(SESSION_COOKIE) or None


def principal_from_cookie(request: Request, session: Session) -> Principal | None:
    """The signed-in user of a request with a session cookie; None without one.

    A cookie that names no open session is 401 `session_expired`; a write without the session's CSRF token
    in `X-CSRF-Token` is 403 `csrf_failed` (a page elsewhere can make the browser send the cookie, not read
    the token).
    """
    token = cookie_token(request)
    if token is None:
        return None
    settings: Settings = request.app.state.settings
    row = service.find_session(session, token=token, settings=settings)
    if row is None:
        raise SessionExpired("your session has ended: sign in again at /login")
    if request.method not in _SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), row.csrf_token.encode()):
            raise CsrfFailed(f"a write made with the session cookie needs the {CSRF_HEADER} header")
    user = row.user
    return Principal(
        id=user.id, kind=PrincipalKind.USER, name=user.name, role=Role(user.role), agent_id=user.agent_id
    )


def session_is_open(factory: sessionmaker[Session], token: str, settings: Settings) -> bool:
    """True if `token` names an open session (for the pre-read body guard; the route checks again)."""
    with factory() as session:
        return service.find_session(session, token=token, settings=settings, touch=False) is not None


def _secure(request: Request, settings: Settings) -> bool:
    # Over TLS (uvicorn's --ssl-*), and always in production, where a TLS proxy may sit in front.
    return request.url.scheme == "https" or settings.env == "production"


def set_session_cookie(response: Response, request: Request, *, token: str, settings: Settings) -> None:
    """HttpOnly (scripts cannot read it), SameSite=Strict (other sites' pages do not send it), Secure on TLS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_max_hours * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
    )


def clear_session_cookie(response: Response, request: Request, *, settings: Settings) -> None:
    """Tell the browser to forget the cookie."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request, settings)
    )
