"""The access log through the API: every read of a full conversation or a recording, queryable by admins."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from app.auth.service import create_key
from app.db import Base
from app.db.session import session_scope
from app.main import create_app
from tests.app.conftest import make_settings

LOG = "/v1/admin/access-log"


@pytest.fixture(scope="module")
def log_client(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app of its own without the emotion model (these tests are about who read what)."""
    data_dir = tmp_path_factory.mktemp("access") / backend_url.split(":")[0]
    with TestClient(create_app(make_settings(data_dir, backend_url, emotion_enabled=False))) as client:
        yield client


@pytest.fixture
def client(log_client: TestClient) -> Iterator[TestClient]:
    yield log_client
    with session_scope(log_client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))


@pytest.fixture
def keys(client: TestClient) -> dict[str, tuple[str, dict[str, str]]]:
    """Role → (key id, Authorization header)."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        for role in ("ingest", "supervisor", "auditor", "admin"):
            row, key = create_key(session, name=f"al-{role}", role=role)
            out[role] = (str(row.id), {"Authorization": f"Bearer {key}"})
    return out


def _post_transcript(client: TestClient, headers: dict[str, str]) -> str:
    resp = client.post(
        "/v1/conversations",
        json={"external_id": "al-chat", "channel": "chat", "agent_id": "a1", "started_at": "2026-11-20T09:30:00+08:00",
              "utterances": [{"speaker": "customer", "text": "快递三天了还没到"},
                             {"speaker": "agent", "text": "您好，我马上帮您查询"}]},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _upload(client: TestClient, headers: dict[str, str], path: Path) -> str:
    with path.open("rb") as fh:
        resp = client.post(
            "/v1/conversations/audio",
            data={
                "external_id": "al-call",
                "agent_id": "a1",
                "started_at": "2026-11-21T14:00:00+08:00",
                "channel_layout": "mono",
            },  # fmt: skip
            files={"file": (path.name, fh, "audio/wav")},
            headers=headers,
        )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["conversation_id"])


def _log(client: TestClient, admin: dict[str, str], **params: Any) -> Any:
    resp = client.get(LOG, params=params, headers=admin)
    assert resp.status_code == 200, resp.text
    return resp.json()


class TestReadsAreLogged:
    def test_who_read_and_listened(
        self, client: TestClient, keys: dict[str, tuple[str, dict[str, str]]], shared_data: Path
    ) -> None:
        ingest, supervisor, auditor, admin = (
            keys[r][1] for r in ("ingest", "supervisor", "auditor", "admin")
        )
        chat = _post_transcript(client, ingest)
        call = _upload(client, ingest, shared_data / "speech" / "BAC009S0764W0121.wav")
        assert _log(client, admin)["total"] == 0  # posting is not reading

        assert client.get(f"/v1/conversations/{chat}", headers=auditor).status_code == 200
        assert client.get(f"/v1/conversations/{call}/audio", headers=supervisor).status_code == 200
        assert client.get(f"/v1/conversations/{call}", headers=supervisor).status_code == 200
        assert client.get(f"/v1/conversations/{chat}", headers=ingest).status_code == 200
        # Not logged: reads that fail or are refused, searches, the log itself.
        missing = "00000000-0000-4000-8000-000000000000"
        assert client.get(f"/v1/conversations/{missing}", headers=auditor).status_code == 404
        assert client.get(f"/v1/conversations/{call}/audio", headers=ingest).status_code == 403
        assert client.get("/v1/conversations", headers=auditor).status_code == 200

        page = _log(client, admin, conversation_id=call)
        assert page["total"] == 2
        assert page["next_cursor"] is None
        got = [
            (i["kind"], i["role"], i["api_key_name"], i["api_key_id"], i["conversation_id"])
            for i in page["items"]
        ]
        assert got == [
            ("conversation", "supervisor", "al-supervisor", keys["supervisor"][0], call),
            ("audio", "supervisor", "al-supervisor", keys["supervisor"][0], call),
        ]
        everything = _log(client, admin)
        assert everything["total"] == 4
        assert [(i["kind"], i["role"]) for i in everything["items"]] == [
            ("conversation", "ingest"),
            ("conversation", "supervisor"),
            ("audio", "supervisor"),
            ("conversation", "auditor"),
        ]
        assert _log(client, admin, api_key_id=keys["auditor"][0])["total"] == 1
        assert _log(client, admin, kind="audio")["total"] == 1

    def test_paging_and_time_window(
        self, client: TestClient, keys: dict[str, tuple[str, dict[str, str]]]
    ) -> None:
        ingest, auditor, admin = keys["ingest"][1], keys["auditor"][1], keys["admin"][1]
        chat = _post_transcript(client, ingest)
        for _ in range(5):
            assert client.get(f"/v1/conversations/{chat}", headers=auditor).status_code == 200
        full = _log(client, admin, conversation_id=chat)["items"]
        assert len(full) == 5

        seen: list[str] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"conversation_id": chat, "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = _log(client, admin, **params)
            assert page["total"] == 5
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [i["id"] for i in full]

        oldest, newest = full[-1]["read_at"], full[0]["read_at"]
        assert _log(client, admin, since=oldest)["total"] == 5
        assert _log(client, admin, until=oldest)["total"] == 0
        assert _log(client, admin, since=oldest, until=newest)["total"] == 4
        assert _log(client, admin, since="2100-01-01")["total"] == 0


class TestAdminOnly:
    def test_roles_and_bad_queries(
        self, client: TestClient, keys: dict[str, tuple[str, dict[str, str]]]
    ) -> None:
        for role in ("ingest", "supervisor", "auditor"):
            resp = client.get(LOG, headers=keys[role][1])
            assert (resp.status_code, resp.json()["error"]["code"]) == (403, "forbidden")
        assert client.get(LOG).status_code == 401
        admin = keys["admin"][1]
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"cursor": "bm9wZQ=="}, 400, "invalid_cursor"),
            ({"since": "2026-11-02", "until": "2026-11-01"}, 422, "validation_error"),
            ({"conversation_id": "not-a-uuid"}, 422, "validation_error"),
            ({"kind": "transcript"}, 422, "validation_error"),
            ({"who": "me"}, 422, "validation_error"),
            ({"limit": 0}, 422, "validation_error"),
        ]
        for params, status, code in cases:
            resp = client.get(LOG, params=params, headers=admin)
            assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), params
