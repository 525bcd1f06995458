"""Console sign-in through the API: cookie, CSRF on writes, lock-out, sign-out, expiry, users' roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app.db import User, UserSession
from app.db.base import utcnow
from app.db.session import session_scope
from app.users.sessions import CSRF_HEADER, SESSION_COOKIE
from tests.factories.conversations import transcript, utterance
from tests.web.conftest import PASSWORD

RUDE = [utterance("customer", "快递三天了还没到"), utterance("agent", "不知道，你自己查")]


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = client.post("/v1/auth/login", json={"username": name, "password": password})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _db(client: TestClient) -> Any:
    return session_scope(client.app.state.session_factory)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("users")
class TestSignIn:
    def test_cookie_flags_me_and_a_read(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        client.post("/v1/conversations", json=transcript("c1", RUDE), headers=auth["ingest"])
        resp = client.post("/v1/auth/login", json={"username": "lead", "password": PASSWORD})
        assert resp.status_code == 200
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        flags = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/"} <= flags
        assert "secure" not in flags  # plain http in development: a Secure cookie would never come back
        me = client.get("/v1/auth/me").json()
        assert (me["kind"], me["name"], me["role"], me["timezone"]) == (
            "user",
            "lead",
            "supervisor",
            "Asia/Shanghai",
        )
        assert me["csrf_token"] == resp.json()["csrf_token"]
        assert len(me["csrf_token"]) >= 40
        page = client.get("/v1/conversations?flagged=true")
        assert (page.status_code, page.json()["total"]) == (200, 1)
        client.post("/v1/auth/logout", headers={CSRF_HEADER: me["csrf_token"]})

    def test_signing_in_again_ends_the_old_session(self, client: TestClient) -> None:
        sign_in(client, "lead")
        old = client.cookies[SESSION_COOKIE]
        sign_in(client, "qa")
        assert client.get("/v1/auth/me").json()["name"] == "qa"
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, old)
        assert client.get("/v1/auth/me").json()["error"]["code"] == "session_expired"
        client.cookies.clear()

    def test_secure_cookie_over_tls(self, client: TestClient) -> None:
        resp = client.post("https://testserver/v1/auth/login", json={"username": "qa", "password": PASSWORD})
        assert resp.status_code == 200
        assert "secure" in {p.strip().lower() for p in resp.headers["set-cookie"].split(";")}
        client.cookies.clear()

    def test_wrong_password_and_unknown_user_read_the_same(self, client: TestClient) -> None:
        wrong = client.post("/v1/auth/login", json={"username": "lead", "password": "not-the-password"})
        unknown = client.post("/v1/auth/login", json={"username": "nobody", "password": "not-the-password"})
        for resp in (wrong, unknown):
            assert resp.status_code == 401
            assert resp.json()["error"] == {
                "code": "invalid_credentials",
                "message": "wrong user name or password",
                "details": None,
            }
            assert "set-cookie" not in resp.headers
        assert client.get("/v1/auth/me").status_code == 401

    def test_password_stored_as_argon2(self, client: TestClient) -> None:
        with _db(client) as s:
            stored = s.scalar(select(User.password_hash).where(User.name == "lead"))
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored


@pytest.mark.usefixtures("users")
class TestLockOut:
    def test_five_failures_lock_the_account_even_for_the_right_password(self, client: TestClient) -> None:
        for _ in range(4):
            assert (
                client.post("/v1/auth/login", json={"username": "qa", "password": "guess-0000"}).status_code
                == 401
            )
        # Four failures do not lock: the right password still works and clears the count.
        sign_in(client, "qa")
        client.cookies.clear()
        codes = [
            client.post("/v1/auth/login", json={"username": "qa", "password": f"guess-{n:04}"}).status_code
            for n in range(5)
        ]
        assert codes == [401, 401, 401, 401, 401]
        locked = client.post("/v1/auth/login", json={"username": "qa", "password": PASSWORD})
        assert locked.status_code == 429
        assert locked.json()["error"]["code"] == "account_locked"
        assert locked.json()["error"]["details"]["retry_after_seconds"] == 15 * 60
        assert "set-cookie" not in locked.headers
        # Another account is not affected.
        sign_in(client, "lead")
        client.cookies.clear()
        # The lock ends by itself after its 15 minutes.
        with _db(client) as s:
            s.execute(
                update(User).where(User.name == "qa").values(locked_until=utcnow() - timedelta(seconds=1))
            )
        sign_in(client, "qa")
        client.cookies.clear()

    def test_an_unknown_name_is_locked_out_the_same_way_and_stores_nothing(self, client: TestClient) -> None:
        def attempt(name: str) -> Any:
            return client.post("/v1/auth/login", json={"username": name, "password": "guess-0000"})

        with _db(client) as s:
            before = (
                s.scalar(select(func.count()).select_from(User)),
                s.scalar(select(func.count()).select_from(UserSession)),
            )
        for name in ("qa", "nobody"):  # an account, and a name without one
            assert [attempt(name).status_code for _ in range(5)] == [401] * 5
        known, unknown = attempt("qa"), attempt("nobody")
        assert (known.status_code, unknown.status_code) == (429, 429)
        assert known.json()["error"]["code"] == unknown.json()["error"]["code"] == "account_locked"
        assert known.json()["error"]["message"] == unknown.json()["error"]["message"]
        assert unknown.json()["error"]["details"]["retry_after_seconds"] == 15 * 60
        with _db(client) as s:
            after = (
                s.scalar(select(func.count()).select_from(User)),
                s.scalar(select(func.count()).select_from(UserSession)),
            )
        assert after == before  # guessed names add no rows

    def test_one_address_failing_across_many_names_waits_too(self, client: TestClient) -> None:
        # 30 failures (AUDIT_LOGIN_MAX_FAILURES_PER_ADDRESS) from the test client's one address, 3 per name: no
        # name is locked, the address is, even for a right password.
        codes = [
            client.post(
                "/v1/auth/login", json={"username": f"guess-{n // 3}", "password": "x" * 12}
            ).status_code
            for n in range(30)
        ]
        assert codes == [401] * 30
        resp = client.post("/v1/auth/login", json={"username": "lead", "password": PASSWORD})
        assert resp.status_code == 429
        assert resp.json()["error"]["code"] == "too_many_sign_ins"
        assert resp.json()["error"]["details"]["retry_after_seconds"] == 15 * 60


@pytest.mark.usefixtures("users")
class TestCsrfAndWrites:
    def test_write_with_cookie_needs_the_token(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conv = client.post("/v1/conversations", json=transcript("c2", RUDE), headers=auth["ingest"]).json()
        me = sign_in(client, "lead")
        url = f"/v1/conversations/{conv['id']}/review"
        body = {"status": "reviewed", "note": "已提醒坐席"}
        missing = client.post(url, json=body)
        assert (missing.status_code, missing.json()["error"]["code"]) == (403, "csrf_failed")
        forged = client.post(url, json=body, headers={CSRF_HEADER: "x" * 43})
        assert (forged.status_code, forged.json()["error"]["code"]) == (403, "csrf_failed")
        assert client.get(f"/v1/conversations/{conv['id']}").json()["review_status"] == "unreviewed"
        ok = client.post(url, json=body, headers={CSRF_HEADER: me["csrf_token"]})
        assert ok.status_code == 200
        assert ok.json()["history"][0]["reviewer"] == "lead"
        client.cookies.clear()

    def test_roles_of_users(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        conv = client.post("/v1/conversations", json=transcript("c3", RUDE), headers=auth["ingest"]).json()
        me = sign_in(client, "qa")  # an auditor searches but does not review
        resp = client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "reviewed"},
            headers={CSRF_HEADER: me["csrf_token"]},
        )
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "forbidden")
        assert client.get("/v1/admin/keys").status_code == 403
        client.cookies.clear()
        sign_in(client, "boss")
        assert client.get("/v1/admin/keys").status_code == 200
        client.cookies.clear()

    def test_agent_user_sees_only_its_own(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        mine = client.post(
            "/v1/conversations", json=transcript("a7", RUDE, agent_id="A7"), headers=auth["ingest"]
        ).json()
        other = client.post(
            "/v1/conversations", json=transcript("a9", RUDE, agent_id="A9"), headers=auth["ingest"]
        ).json()
        me = sign_in(client, "agent7")
        assert (me["role"], me["agent_id"]) == ("agent", "A7")
        page = client.get("/v1/conversations").json()
        assert [c["id"] for c in page["items"]] == [mine["id"]]
        assert client.get(f"/v1/conversations/{other['id']}").status_code == 404
        client.cookies.clear()

    def test_reads_by_users_are_in_the_access_log(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conv = client.post("/v1/conversations", json=transcript("c4", RUDE), headers=auth["ingest"]).json()
        sign_in(client, "lead")
        assert client.get(f"/v1/conversations/{conv['id']}").status_code == 200
        client.cookies.clear()
        log = client.get(f"/v1/admin/access-log?conversation_id={conv['id']}", headers=auth["admin"]).json()
        assert [(e["api_key_name"], e["role"], e["kind"]) for e in log["items"]] == [
            ("lead", "supervisor", "conversation")
        ]


@pytest.mark.usefixtures("users")
class TestSignOutAndExpiry:
    def test_sign_out_ends_the_session_on_the_server(self, client: TestClient) -> None:
        me = sign_in(client, "lead")
        token = client.cookies[SESSION_COOKIE]
        assert client.post("/v1/auth/logout").status_code == 403  # sign-out is a write: CSRF token too
        out = client.post("/v1/auth/logout", headers={CSRF_HEADER: me["csrf_token"]})
        assert out.status_code == 204
        assert SESSION_COOKIE in out.headers["set-cookie"]
        assert "max-age=0" in out.headers["set-cookie"].lower()
        client.cookies.clear()
        # The old cookie, replayed (stolen, or a second tab), no longer works.
        client.cookies.set(SESSION_COOKIE, token)
        replay = client.get("/v1/auth/me")
        client.cookies.clear()
        assert (replay.status_code, replay.json()["error"]["code"]) == (401, "session_expired")

    def test_absolute_and_idle_expiry(self, client: TestClient) -> None:
        sign_in(client, "lead")
        assert client.get("/v1/auth/me").status_code == 200
        with _db(client) as s:
            s.execute(update(UserSession).values(last_seen_at=utcnow() - timedelta(minutes=121)))
        idle = client.get("/v1/auth/me")
        assert (idle.status_code, idle.json()["error"]["code"]) == (401, "session_expired")
        client.cookies.clear()
        sign_in(client, "lead")
        with _db(client) as s:
            s.execute(update(UserSession).where(UserSession.revoked_at.is_(None)).values(expires_at=utcnow()))
        assert client.get("/v1/auth/me").status_code == 401
        client.cookies.clear()

    def test_a_key_still_works_and_me_says_so(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        me = client.get("/v1/auth/me", headers=auth["auditor"]).json()
        assert (me["kind"], me["role"], me["csrf_token"]) == ("key", "auditor", None)
        assert client.post("/v1/auth/logout", headers=auth["auditor"]).status_code == 204
