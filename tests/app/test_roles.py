"""The role matrix: every route of the app is in the policy table, and each role gets exactly its answer."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from app.auth.dependencies import Caller
from app.auth.policy import POLICY, PUBLIC
from app.errors import install_error_handlers

ROLES = ("ingest", "supervisor", "auditor", "admin", "agent")
ALL = set(ROLES)
# The README's role table, written out: route name → who may call it ("public": no key needed).
README_MATRIX: dict[str, set[str] | str] = {
    "health": "public",
    "index": "public",
    "openapi": "public",
    "swagger_ui_html": "public",
    "swagger_ui_redirect": "public",
    "redoc_html": "public",
    "create_conversation": {"ingest", "admin"},
    "create_conversations_batch": {"ingest", "admin"},
    "create_audio_conversation": {"ingest", "admin"},
    "get_job": {"ingest", "admin"},
    "get_conversation": ALL,
    "list_conversations": {"supervisor", "auditor", "admin", "agent"},
    "get_conversation_audio": {"supervisor", "auditor", "admin"},
    "review_conversation": {"supervisor", "admin"},
    "list_reviews": {"supervisor", "auditor", "admin"},
    "reanalyze_conversation": {"admin"},
    "create_api_key": {"admin"},
    "list_api_keys": {"admin"},
    "revoke_api_key": {"admin"},
    "reload_lexicons": {"admin"},
    "admin_health": {"admin"},
    "list_access_log": {"admin"},
    "get_conversation_audio_original": {"admin"},
    # --- alerts (issue 10) ---
    "list_alerts": {"supervisor", "auditor", "admin"},
    "get_alerts_summary": {"supervisor", "auditor", "admin"},
    "stream_alerts": {"supervisor", "auditor", "admin"},
    "get_alert": {"supervisor", "auditor", "admin"},
    "acknowledge_alert": {"supervisor", "admin"},
    # --- reports (issue 10) ---
    "get_agent_report": {"supervisor", "auditor", "admin"},
    "get_daily_report": {"supervisor", "auditor", "admin"},
    "get_rules_report": {"supervisor", "auditor", "admin"},
    # --- appeals, agent role, rule tuning and versions (issue 10) ---
    "create_appeal": {"agent", "supervisor", "admin"},
    "list_conversation_appeals": {"agent", "supervisor", "auditor", "admin"},
    "list_appeals": {"agent", "supervisor", "auditor", "admin"},
    "decide_appeal": {"supervisor", "admin"},
    "dry_run_rules": {"supervisor", "auditor", "admin"},
    "list_rule_versions": {"admin"},
    "create_rule_version": {"admin"},
    "activate_rule_version": {"admin"},
    # --- console sign-in and users (issue 10) ---
    "login_page": "public",
    "static_file": "public",
    "login": "public",
    "logout": ALL,
    "auth_me": ALL,
    # --- task queue, jobs and metrics (issue 12) ---
    "list_jobs": {"admin"},
    "metrics": {"admin"},
}


def app_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    """(route name, method, path) of every route the app serves, included routers flattened."""
    out: list[tuple[str, str, str]] = []
    for ctx in iter_route_contexts(app.routes):
        for method in sorted((ctx.methods or {"GET"}) - {"HEAD"}):
            out.append((str(ctx.name), method, str(ctx.path_format)))
    return out


def concrete(path: str) -> str:
    """The path with every parameter filled with a (non-existent) UUID."""
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


class TestTable:
    def test_every_route_has_a_policy(self, client: TestClient) -> None:
        routes = app_routes(client.app)  # type: ignore[arg-type]
        assert len(routes) >= len(README_MATRIX)
        missing = [(m, p, n) for n, m, p in routes if n not in POLICY]
        assert missing == [], "routes without an entry in app/auth/policy.py"
        # Names are the key: two different protected routes must not share one.
        protected = [(n, m, p) for n, m, p in routes if POLICY[n] is not PUBLIC]
        assert len({n for n, _, _ in protected}) == len(protected)
        # And nothing in the table that the app does not serve (a renamed route would leave a stale entry).
        assert set(POLICY) == {n for n, _, _ in routes}

    def test_table_is_the_readme_matrix(self) -> None:
        actual = {name: "public" if roles is PUBLIC else set(roles) for name, roles in POLICY.items()}
        assert actual == README_MATRIX

    def test_unlisted_route_is_refused(self, client: TestClient, keys: dict[str, str]) -> None:
        # A route that asks for a key but is not in the table: refused even for admin (fail closed).
        app = FastAPI()
        install_error_handlers(app)
        app.state.session_factory = client.app.state.session_factory  # type: ignore[attr-defined]
        router = APIRouter()

        @router.get("/v1/not-in-the-table")
        def not_in_the_table(_key: Caller) -> dict[str, str]:
            return {"ok": "yes"}

        app.include_router(router)
        with TestClient(app) as other:
            resp = other.get("/v1/not-in-the-table", headers={"Authorization": f"Bearer {keys['admin']}"})
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "no_policy")


class TestEnforcement:
    def test_each_role_on_each_route(self, client: TestClient, keys: dict[str, str]) -> None:
        checked = 0
        for name, method, path in app_routes(client.app):  # type: ignore[arg-type]
            url = concrete(path)
            allowed = POLICY[name]
            anonymous = client.request(method, url)
            if allowed is PUBLIC:
                # Public routes still check their input: an empty sign-in body (422) or a made-up file name
                # in a path parameter (404) is refused, but never as an auth failure.
                refusal_ok = {422} if method != "GET" else {404} if "{" in path else set()
                assert anonymous.status_code < 400 or anonymous.status_code in refusal_ok, (
                    method,
                    path,
                    anonymous.status_code,
                )
                continue
            assert anonymous.status_code == 401, (method, path)
            assert anonymous.json()["error"]["code"] == "unauthorized"
            bad = client.request(method, url, headers={"Authorization": "Bearer qa_not-a-key"})
            assert bad.status_code == 401, (method, path)
            for role in ROLES:
                resp = client.request(method, url, headers={"Authorization": f"Bearer {keys[role]}"})
                if role in allowed:
                    # Admitted: whatever the route answers to an empty request, not an auth refusal.
                    assert resp.status_code not in (401, 403), (role, method, path, resp.text)
                    assert resp.status_code < 500, (role, method, path, resp.text)
                else:
                    assert resp.status_code == 403, (role, method, path, resp.status_code)
                    assert resp.json()["error"]["code"] == "forbidden"
                checked += 1
        assert checked == len(ROLES) * sum(1 for roles in POLICY.values() if roles is not PUBLIC)


class TestLastAdminKey:
    def test_last_admin_cannot_revoke_itself(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        keys = client.get("/v1/admin/keys", headers=auth["admin"]).json()
        admin = next(k for k in keys if k["role"] == "admin")
        resp = client.delete(f"/v1/admin/keys/{admin['id']}", headers=auth["admin"])
        assert resp.status_code == 409
        assert resp.json()["error"]["code"] == "last_admin_key"
        # Still works: nothing was revoked.
        assert client.get("/v1/admin/keys", headers=auth["admin"]).status_code == 200

    def test_with_a_second_admin_one_may_go_not_both(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        first_id = next(
            k["id"]
            for k in client.get("/v1/admin/keys", headers=auth["admin"]).json()
            if k["role"] == "admin"
        )
        second = client.post(
            "/v1/admin/keys", json={"name": "second-admin", "role": "admin"}, headers=auth["admin"]
        ).json()
        second_auth = {"Authorization": f"Bearer {second['key']}"}
        # The first admin revokes its own key: allowed, another admin remains.
        own = client.delete(f"/v1/admin/keys/{first_id}", headers=auth["admin"])
        assert own.status_code == 200
        assert own.json()["revoked_at"] is not None
        # Now the second is the last one: it cannot revoke itself.
        last = client.delete(f"/v1/admin/keys/{second['id']}", headers=second_auth)
        assert (last.status_code, last.json()["error"]["code"]) == (409, "last_admin_key")
        # Revoking an already-revoked admin key, or another role's key, is not blocked.
        assert client.delete(f"/v1/admin/keys/{first_id}", headers=second_auth).status_code == 200
        ingest_id = next(
            k["id"] for k in client.get("/v1/admin/keys", headers=second_auth).json() if k["role"] == "ingest"
        )
        assert client.delete(f"/v1/admin/keys/{ingest_id}", headers=second_auth).status_code == 200

    @pytest.mark.parametrize("role", ["ingest", "supervisor", "auditor"])
    def test_other_roles_cannot_touch_keys(
        self, client: TestClient, auth: dict[str, dict[str, str]], role: str
    ) -> None:
        resp = client.delete(f"/v1/admin/keys/{uuid.uuid4()}", headers=auth[role])
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "forbidden")
