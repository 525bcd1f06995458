"""Roles: every endpoint admits exactly the roles it declares (admin everywhere)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.factories.conversations import transcript, utterance

UUID = "5f0c6b4e-2a43-4d7f-9d2c-3a1e4b5c6d7e"
# (method, path, body, roles admitted besides admin)
ENDPOINTS = [
    ("POST", "/v1/conversations", "payload", {"ingest"}),
    ("GET", "/v1/conversations", None, {"supervisor", "auditor"}),
    ("GET", f"/v1/conversations/{UUID}", None, {"ingest", "supervisor", "auditor"}),
    ("POST", f"/v1/conversations/{UUID}/review", {"status": "reviewed"}, {"supervisor"}),
    ("GET", f"/v1/conversations/{UUID}/reviews", None, {"supervisor", "auditor"}),
    ("GET", "/v1/admin/keys", None, set()),
    ("POST", "/v1/admin/lexicons/reload", None, set()),
]


class TestRoles:
    @pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
    def test_role_matrix(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        method: str,
        path: str,
        body: object,
        allowed: set[str],
    ) -> None:
        json_body = transcript("auth-1", [utterance("customer", "你好")]) if body == "payload" else body
        for role in ("ingest", "supervisor", "auditor", "admin"):
            resp = client.request(method, path, json=json_body, headers=auth[role])
            if role in allowed or role == "admin":
                assert resp.status_code not in (401, 403), (role, path, resp.text)
            else:
                assert resp.status_code == 403, (role, path)
                assert resp.json()["error"]["code"] == "forbidden"
        assert client.request(method, path, json=json_body).status_code == 401

    def test_bad_and_revoked_keys(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        bad = client.get("/v1/conversations", headers={"Authorization": "Bearer qa_nope"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "unauthorized"
        created = client.post(
            "/v1/admin/keys", json={"name": "temp", "role": "auditor"}, headers=auth["admin"]
        )
        assert created.status_code == 201
        key = created.json()["key"]
        assert client.get("/v1/conversations", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        listed = client.get("/v1/admin/keys", headers=auth["admin"]).json()
        assert all("key" not in k and "key_hash" not in k for k in listed)
        revoked = client.delete(f"/v1/admin/keys/{created.json()['id']}", headers=auth["admin"])
        assert revoked.json()["revoked_at"] is not None
        assert client.get("/v1/conversations", headers={"Authorization": f"Bearer {key}"}).status_code == 401

    def test_unknown_role(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = client.post("/v1/admin/keys", json={"name": "x", "role": "root"}, headers=auth["admin"])
        assert resp.status_code == 422


class TestHealth:
    def test_public_health_says_only_ok(self, client: TestClient) -> None:
        resp = client.get("/v1/health")
        assert (resp.status_code, resp.json()) == (200, {"status": "ok"})

    def test_admin_health_reports_versions(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = client.get("/v1/admin/health", headers=auth["admin"])
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"status", "database", "lexicon_version", "rules_version", "models", "queue"}
        assert body["status"] == "ok"
        assert body["queue"]["broker"] == "in-process"  # no AUDIT_BROKER_URL in tests: the embedded default
        assert body["database"] in {"sqlite", "postgresql"}
        assert len(body["lexicon_version"]) == 12
        assert body["models"]["emotion"].startswith("e5s-emotion-")
        assert body["models"]["emotion_calibration"].startswith("cal-")
        assert body["models"]["whisper"] == "whisper-base"  # a name, never a path on disk
        assert "/" not in str(body)

    @pytest.mark.parametrize("role", ["ingest", "supervisor", "auditor"])
    def test_admin_health_is_for_admins(
        self, client: TestClient, auth: dict[str, dict[str, str]], role: str
    ) -> None:
        assert client.get("/v1/admin/health").status_code == 401
        resp = client.get("/v1/admin/health", headers=auth[role])
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "forbidden")
