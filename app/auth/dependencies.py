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

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def authorize(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Admit a valid key whose role the policy table lists for the matched route; refuse unlisted routes."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    key = find_active_key(session, plain=credentials.credentials)
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    allowed = allowed_roles(getattr(request.scope.get("route"), "name", None))
    if allowed is None or allowed is PUBLIC:
        # A route that asks for a key must be in the table with its roles: fail closed.
        raise Forbidden("this route has no access policy", code="no_policy")
    if key.role not in allowed:
        raise Forbidden(f"role {key.role!r} may not do this; needs one of {', '.join(sorted(allowed))}")
    return Principal(id=key.id, kind=PrincipalKind.KEY, name=key.name, role=Role(key.role))


# The one role alias for route signatures: which roles it admits is the policy table's answer for the route.
Caller = Annotated[Principal, Depends(authorize)]
