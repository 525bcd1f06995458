"""The role matrix: one table, route name → the roles that may call it. Every route of the app is in it.

The README's role table, as code. `authorize` (app.auth.dependencies) looks the matched route up here, so a
route's access is decided in this file only; a route missing from the table is refused (and fails
tests/app/test_roles.py, which walks every route of the app).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Role(StrEnum):
    """What an API key may be used for."""

    INGEST = "ingest"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Access(StrEnum):
    """Routes anyone may call without a key."""

    PUBLIC = "public"


INGEST, SUPERVISOR, AUDITOR, ADMIN = Role.INGEST, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN
PUBLIC: Final = Access.PUBLIC


def _roles(*roles: Role) -> frozenset[Role]:
    return frozenset(roles) | {ADMIN}  # admin may do everything


# Route name (the endpoint function's name) → roles. Admin is in every set on purpose, by `_roles`.
POLICY: Final[Mapping[str, frozenset[Role] | Access]] = {
    # Public: load balancers, the console page (it calls the API with the user's key), API docs.
    "health": PUBLIC,  # GET /v1/health: ok/degraded only
    "index": PUBLIC,  # GET / and /ui
    "openapi": PUBLIC,  # GET /openapi.json
    "swagger_ui_html": PUBLIC,  # GET /docs
    "swagger_ui_redirect": PUBLIC,  # GET /docs/oauth2-redirect
    "redoc_html": PUBLIC,  # GET /redoc
    # Ingest: post transcripts and recordings, read them back, follow jobs.
    "create_conversation": _roles(INGEST),  # POST /v1/conversations
    "create_conversations_batch": _roles(INGEST),  # POST /v1/conversations/batch
    "create_audio_conversation": _roles(INGEST),  # POST /v1/conversations/audio
    "get_job": _roles(INGEST),  # GET /v1/jobs/{job_id}
    # Reading one conversation: everyone with a key (ingest without the review notes, see presenters).
    "get_conversation": _roles(INGEST, SUPERVISOR, AUDITOR),  # GET /v1/conversations/{id}
    # Search and the flagged queue.
    "list_conversations": _roles(SUPERVISOR, AUDITOR),  # GET /v1/conversations
    # Listening to a recording.
    "get_conversation_audio": _roles(SUPERVISOR, AUDITOR),  # GET /v1/conversations/{id}/audio
    # The unredacted original (kept only with AUDIT_KEEP_UNREDACTED_AUDIO): admin only.
    "get_conversation_audio_original": _roles(),  # GET /v1/conversations/{id}/audio/original
    # Reviews: supervisors decide; auditors read the history.
    "review_conversation": _roles(SUPERVISOR),  # POST /v1/conversations/{id}/review
    "list_reviews": _roles(SUPERVISOR, AUDITOR),  # GET /v1/conversations/{id}/reviews
    # Re-analysis rewrites the findings and score of any stored conversation; it follows a lexicon
    # reload or a failed audit, both operator work, so admin only (the README gives it to no other role).
    "reanalyze_conversation": _roles(),  # POST /v1/conversations/{id}/reanalyze
    # Admin only: keys, lexicons, detailed health.
    "create_api_key": _roles(),  # POST /v1/admin/keys
    "list_api_keys": _roles(),  # GET /v1/admin/keys
    "revoke_api_key": _roles(),  # DELETE /v1/admin/keys/{key_id}
    "reload_lexicons": _roles(),  # POST /v1/admin/lexicons/reload
    "admin_health": _roles(),  # GET /v1/admin/health
    # Who read which conversation or recording (app.access_log): for the privacy officer, admin only.
    "list_access_log": _roles(),  # GET /v1/admin/access-log
    # --- alerts (issue 10) ---
    # --- reports (issue 10) ---
    # --- appeals, agent role, rule tuning and versions (issue 10) ---
    # --- console sign-in and users (issue 10) ---
    # --- task queue, jobs and metrics (issue 12) ---
}


def allowed_roles(route_name: str | None) -> frozenset[Role] | Access | None:
    """The roles admitted to a route, PUBLIC, or None when the table does not name it (refuse)."""
    if route_name is None:
        return None
    return POLICY.get(route_name)


def may(role: str, route_name: str) -> bool:
    """True if `role` may call the named route (for views that show a part only to some roles)."""
    allowed = POLICY.get(route_name)
    return allowed is PUBLIC or (isinstance(allowed, frozenset) and role in allowed)
