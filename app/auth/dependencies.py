"""The caller of a route: a valid key whose role the role matrix (app.auth.policy) admits to that route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.policy import PUBLIC, Role, allowed_roles
from app.auth.principal import Principal, PrincipalKind
from app.auth.service import find_active_key
from app.deps import DbSession
from app.errors import Forbidden, Unauthorized
from app.users.sessions import principal_from_cookie

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def authorize(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Admit a valid key, or a signed-in user (session cookie), whose role the policy table lists for the
    matched route; refuse unlisted routes."""
    if credentials is None and (user := principal_from_cookie(request, session)) is not None:
        return _admit(request, user)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>` (or sign in at /login)")
    key = find_active_key(session, plain=credentials.credentials)
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    return _admit(
        request,
        Principal(
            id=key.id, kind=PrincipalKind.KEY, name=key.name, role=Role(key.role), agent_id=key.agent_id
        ),
    )


def _admit(request: Request, caller: Principal) -> Principal:
    allowed = allowed_roles(getattr(request.scope.get("route"), "name", None))
    if allowed is None or allowed is PUBLIC:
        # A route that asks for a key must be in the table with its roles: fail closed.
        raise Forbidden("this route has no access policy", code="no_policy")
    if caller.role not in allowed:
        raise Forbidden(
            f"role {caller.role.value!r} may not do this; needs one of {', '.join(sorted(allowed))}"
        )
    return caller


# The one role alias for route signatures: which roles it admits is the policy table's answer for the route.
Caller = Annotated[Principal, Depends(authorize)]
