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
    # Bound to one agent_id (the key's or user's): sees only that agent's conversations, files appeals.
    AGENT = "agent"


class Access(StrEnum):
    """Routes anyone may call without a key."""

    PUBLIC = "public"


INGEST, SUPERVISOR, AUDITOR, ADMIN = Role.INGEST, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN
AGENT = Role.AGENT
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
    # An agent reads only its own (app.auth.scope: 404 for another agent's, never review notes).
    "get_conversation": _roles(INGEST, SUPERVISOR, AUDITOR, AGENT),  # GET /v1/conversations/{id}
    # Search and the flagged queue; an agent's search is always limited to its own agent_id.
    "list_conversations": _roles(SUPERVISOR, AUDITOR, AGENT),  # GET /v1/conversations
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
    # Team leads read and acknowledge alerts; auditors read them; ingest and agents see none.
    "list_alerts": _roles(SUPERVISOR, AUDITOR),  # GET /v1/alerts
    "get_alerts_summary": _roles(SUPERVISOR, AUDITOR),  # GET /v1/alerts/summary
    "stream_alerts": _roles(SUPERVISOR, AUDITOR),  # GET /v1/alerts/stream (server-sent events)
    "get_alert": _roles(SUPERVISOR, AUDITOR),  # GET /v1/alerts/{id}
    "acknowledge_alert": _roles(SUPERVISOR),  # POST /v1/alerts/{id}/ack
    # --- reports (issue 10) ---
    # Per-agent, daily and per-rule reports: the people who run the QA team (agents see none of them).
    "get_agent_report": _roles(SUPERVISOR, AUDITOR),  # GET /v1/reports/agents
    "get_daily_report": _roles(SUPERVISOR, AUDITOR),  # GET /v1/reports/daily
    "get_rules_report": _roles(SUPERVISOR, AUDITOR),  # GET /v1/reports/rules
    # --- appeals, agent role, rule tuning and versions (issue 10) ---
    # An agent contests its own findings; a supervisor (or admin) may file one for an agent who asks in person.
    "create_appeal": _roles(AGENT, SUPERVISOR),  # POST /v1/conversations/{id}/appeals
    "list_conversation_appeals": _roles(AGENT, SUPERVISOR, AUDITOR),  # GET /v1/conversations/{id}/appeals
    "list_appeals": _roles(AGENT, SUPERVISOR, AUDITOR),  # GET /v1/appeals (an agent: its own only)
    "decide_appeal": _roles(SUPERVISOR),  # POST /v1/appeals/{id}/decision
    # Dry run of candidate rules or lexicon entries: stores nothing, reads what these roles may read anyway.
    "dry_run_rules": _roles(SUPERVISOR, AUDITOR),  # POST /v1/rules/test
    # Rule versions change what every later audit finds: admin only, like the lexicon reload.
    "list_rule_versions": _roles(),  # GET /v1/admin/rules/versions
    "create_rule_version": _roles(),  # POST /v1/admin/rules/versions
    "activate_rule_version": _roles(),  # POST /v1/admin/rules/versions/{id}/activate
    # --- console sign-in and users (issue 10) ---
    # The console's pages and files are public (they hold no data); signing in is public, rate-limited by
    # argon2 and the per-account lock-out; who-am-I and sign-out serve every signed-in user or key.
    "login_page": PUBLIC,  # GET /login
    "static_file": PUBLIC,  # GET /static/{path}: console HTML, CSS, JS, vendored ECharts
    "login": PUBLIC,  # POST /v1/auth/login
    "logout": _roles(INGEST, SUPERVISOR, AUDITOR, AGENT),  # POST /v1/auth/logout
    "auth_me": _roles(INGEST, SUPERVISOR, AUDITOR, AGENT),  # GET /v1/auth/me
    # --- task queue, jobs and metrics (issue 12) ---
    # Every job with its error: operator work, admin only. Metrics: admin key too (Prometheus scrapes with a
    # bearer credentials file); workers, which have no API, serve theirs on `audit worker --metrics-port`.
    "list_jobs": _roles(),  # GET /v1/jobs?status=
    "metrics": _roles(),  # GET /metrics
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
