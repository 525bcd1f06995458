"""Every answer in one error format and with the security headers: 401/413 before the body, 500, 503."""

from __future__ import annotations

import re
import socket
import sqlite3
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.auth.service import create_key
from app.db import Conversation
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from tests.app.conftest import make_settings
from tests.factories.conversations import transcript, utterance


def _error(resp: object) -> tuple[int, str]:
    return resp.status_code, resp.json()["error"]["code"]  # type: ignore[attr-defined]


class TestSecurityHeaders:
    def test_api_responses(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        payload = transcript(
            "h-1", [utterance("customer", "发票开了吗"), utterance("agent", "您好，已经开了")]
        )
        created = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
        for resp in (
            created,
            client.get(f"/v1/conversations/{created.json()['id']}", headers=auth["auditor"]),
            client.get("/v1/conversations", headers=auth["auditor"]),
            client.get("/v1/conversations"),  # 401
            client.get("/v1/health"),
        ):
            assert resp.headers["x-content-type-options"] == "nosniff"
            assert resp.headers["x-frame-options"] == "DENY"
            assert resp.headers["cache-control"] == "no-store"
            assert resp.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"

    @pytest.mark.parametrize("page", ["/ui", "/login"])
    def test_console_has_a_csp_that_admits_only_its_own_files(self, client: TestClient, page: str) -> None:
        resp = client.get(page)
        assert resp.status_code == 200
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["x-frame-options"] == "DENY"
        csp = dict(d.strip().split(" ", 1) for d in resp.headers["content-security-policy"].split(";"))
        assert csp["frame-ancestors"] == "'none'"
        assert csp["default-src"] == "'none'"
        # Scripts and styles come only from the console's own files: nothing inline, no CDN, no eval.
        assert (csp["script-src"], csp["style-src"], csp["connect-src"]) == ("'self'", "'self'", "'self'")
        assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", resp.text) == []
        assert "<style" not in resp.text
        assert re.search(r"\son[a-z]+=|\sstyle=", resp.text) is None

    def test_docs_cannot_be_framed(self, client: TestClient) -> None:
        resp = client.get("/docs")
        assert resp.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert "cache-control" not in resp.headers


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A SQLite app with two routes that fail the ways a bug and a locked database do."""
    tmp = tmp_path_factory.mktemp("bare")
    url = f"sqlite:///{tmp / 'bare.db'}"
    upgrade(url)
    app = create_app(make_settings(tmp, url, emotion_enabled=False, max_json_bytes=4096))

    def boom() -> None:
        raise RuntimeError("secret detail 13911112222")

    def locked() -> None:
        raise OperationalError(
            "UPDATE conversations SET x=?", {}, sqlite3.OperationalError("database is locked")
        )

    app.add_api_route("/v1/test/boom", boom)
    app.add_api_route("/v1/test/locked", locked)
    with TestClient(app) as client:
        with session_scope(app.state.session_factory) as s:
            _, key = create_key(s, name="ingest", role="ingest")
        yield client, {"Authorization": f"Bearer {key}"}


class TestOneErrorFormat:
    def test_unhandled_exception_is_our_500(
        self, bare_app: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture
    ) -> None:
        client, _ = bare_app
        resp = client.get("/v1/test/boom")
        assert resp.status_code == 500
        assert resp.json() == {
            "error": {
                "code": "internal_error",
                "message": "internal server error; it has been logged",
                "details": None,
            }
        }
        assert "13911112222" not in resp.text
        assert "Traceback" not in resp.text
        assert resp.headers["x-content-type-options"] == "nosniff"
        logged = [r for r in caplog.records if r.name == "app.http.unhandled"]
        assert len(logged) == 1
        assert logged[0].exc_info is not None  # the traceback is kept server side

    def test_locked_database_is_503_with_retry_after(
        self, bare_app: tuple[TestClient, dict[str, str]]
    ) -> None:
        client, _ = bare_app
        resp = client.get("/v1/test/locked")
        assert _error(resp) == (503, "database_unavailable")
        assert resp.headers["retry-after"] == "5"

    def test_key_checked_before_the_body(self, bare_app: tuple[TestClient, dict[str, str]]) -> None:
        client, headers = bare_app
        body = b"{" + b" " * 10_000  # over the limit and not even JSON: the key is what is refused first
        missing = client.post("/v1/conversations", content=body, headers={"Content-Type": "application/json"})
        assert _error(missing) == (401, "unauthorized")
        assert missing.json()["error"]["message"] == "missing API key: send `Authorization: Bearer <key>`"
        wrong = client.post(
            "/v1/conversations",
            content=body,
            headers={"Authorization": "Bearer qa_nope", "Content-Type": "application/json"},
        )
        assert _error(wrong) == (401, "unauthorized")
        assert wrong.json()["error"]["message"] == "invalid or revoked API key"

    def test_declared_size_over_the_limit(self, bare_app: tuple[TestClient, dict[str, str]]) -> None:
        client, headers = bare_app
        resp = client.post(
            "/v1/conversations", content=b"x" * 4097, headers={**headers, "Content-Type": "application/json"}
        )
        assert _error(resp) == (413, "payload_too_large")
        assert resp.json()["error"]["details"] == {"limit_bytes": 4096}

    def test_streamed_size_over_the_limit(self, bare_app: tuple[TestClient, dict[str, str]]) -> None:
        client, headers = bare_app

        def chunks() -> Iterator[bytes]:  # no Content-Length: only counting the bytes can stop it
            yield b'{"external_id": "big", "utterances": ['
            for _ in range(100):
                yield b'{"speaker": "customer", "text": "' + b"a" * 100 + b'"},'

        resp = client.post(
            "/v1/conversations", content=chunks(), headers={**headers, "Content-Type": "application/json"}
        )
        assert _error(resp) == (413, "payload_too_large")
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            assert session.scalar(select(func.count()).select_from(Conversation)) == 0

    def test_within_the_limit_passes(self, bare_app: tuple[TestClient, dict[str, str]]) -> None:
        client, headers = bare_app
        payload = transcript("small", [utterance("customer", "发票开了吗")])
        assert client.post("/v1/conversations", json=payload, headers=headers).status_code == 201


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app whose PostgreSQL does not answer at all (nothing listens on its port)."""
    tmp = tmp_path_factory.mktemp("down")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/audit"
    with TestClient(create_app(make_settings(tmp, url, emotion_enabled=False))) as client:
        yield client


class TestDatabaseDown:
    """Every route says 503 with Retry-After when the database is gone, never 500 or a hang."""

    def test_health_degraded(self, down: TestClient) -> None:
        resp = down.get("/v1/health")
        assert (resp.status_code, resp.json()) == (503, {"status": "degraded"})

    def test_read_and_write_are_503(self, down: TestClient) -> None:
        key = {"Authorization": "Bearer qa_whatever"}
        payload = transcript("d-1", [utterance("customer", "发票开了吗")])
        for resp in (
            down.get("/v1/conversations", headers=key),
            down.post("/v1/conversations", json=payload, headers=key),
        ):
            assert _error(resp) == (503, "database_unavailable")
            assert resp.headers["retry-after"] == "5"
            assert resp.headers["x-content-type-options"] == "nosniff"
