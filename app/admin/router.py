"""Admin endpoints: manage API keys, reload lexicons without a restart."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from app.admin.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, LexiconReloaded
from app.alerts.config import install as install_alert_config
from app.alerts.config import load_config as load_alert_config
from app.auth import service as auth
from app.auth.dependencies import Caller
from app.auth.policy import Role
from app.db import ApiKey
from app.deps import DbSession, Runtime
from app.errors import AppError, error_responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class LexiconError(AppError):
    status_code = 422
    code = "invalid_lexicon"


def _read(row: ApiKey) -> ApiKeyRead:
    return ApiKeyRead(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        agent_id=row.agent_id,
    )


@router.post(
    "/keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 422),
)
def create_api_key(payload: ApiKeyCreate, session: DbSession, _key: Caller) -> ApiKeyCreated:
    """Create an API key for a role; the key is in this response only."""
    row, plain = auth.create_key(session, name=payload.name, role=payload.role, agent_id=payload.agent_id)
    return ApiKeyCreated(**_read(row).model_dump(), key=plain)


@router.get("/keys", response_model=list[ApiKeyRead], responses=error_responses(401, 403))
def list_api_keys(session: DbSession, _key: Caller) -> list[ApiKeyRead]:
    """All API keys (never the keys themselves)."""
    return [_read(r) for r in auth.list_keys(session)]


@router.delete(
    "/keys/{key_id}", response_model=ApiKeyRead, responses=error_responses(401, 403, 404, 409, 422)
)
def revoke_api_key(key_id: uuid.UUID, session: DbSession, _key: Caller) -> ApiKeyRead:
    """Revoke a key; the last active admin key cannot be revoked (409 `last_admin_key`)."""
    return _read(auth.revoke_key(session, key_id=key_id))


@router.post("/lexicons/reload", response_model=LexiconReloaded, responses=error_responses(401, 403, 422))
def reload_lexicons(request: Request, runtime: Runtime, _key: Caller) -> LexiconReloaded:
    """Re-read lexicons, rules and alert rules from disk; on a broken file the old ones stay in force."""
    try:
        alerts = load_alert_config(runtime.settings)  # validated first: a broken alerts.yaml changes nothing
        version = runtime.reload_lexicons()
    except (ValueError, OSError, KeyError) as exc:
        raise LexiconError(f"lexicons not reloaded: {exc}") from exc
    install_alert_config(request.app.state.engine, alerts)
    return LexiconReloaded(lexicon_version=version)
