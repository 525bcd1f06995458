"""Role aliases for route signatures: a route declares the role it needs, never checks inline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.service import find_active_key
from app.db import ApiKey
from app.deps import DbSession
from app.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer <key>`")


def require_roles(*roles: str) -> Callable[..., ApiKey]:
    """Dependency that admits a valid key with one of `roles` (admin is always admitted)."""
    allowed = frozenset(roles) | {"admin"}

    def _dependency(
        session: DbSession, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
        key = find_active_key(session, plain=credentials.credentials)
        if key is None:
            raise Unauthorized("invalid or revoked API key")
        if key.role not in allowed:
            raise Forbidden(f"role {key.role!r} may not do this; needs one of {', '.join(sorted(allowed))}")
        return key

    return _dependency


IngestKey = Annotated[ApiKey, Depends(require_roles("ingest"))]
ReaderKey = Annotated[ApiKey, Depends(require_roles("ingest", "supervisor", "auditor"))]
SearchKey = Annotated[ApiKey, Depends(require_roles("supervisor", "auditor"))]
SupervisorKey = Annotated[ApiKey, Depends(require_roles("supervisor"))]
ListenerKey = Annotated[ApiKey, Depends(require_roles("supervisor", "auditor"))]
AdminKey = Annotated[ApiKey, Depends(require_roles("admin"))]
