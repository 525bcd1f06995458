"""Free text people type (review notes, customer ids, key names) is stored and returned masked; ingest sees no notes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import ApiKey, Conversation, Review
from app.db.session import session_scope
from tests.factories.conversations import transcript, utterance

PHONE = "13812345678"
MASKED_PHONE = "138****5678"


def _stored(client: TestClient) -> tuple[list[str | None], list[str | None], list[str]]:
    """Customer ids, review notes and key names as they are in the database."""
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory) as s:
        return (
            list(s.scalars(select(Conversation.customer_id))),
            list(s.scalars(select(Review.note))),
            list(s.scalars(select(ApiKey.name))),
        )


def _post(client: TestClient, auth: dict[str, dict[str, str]], **kwargs: Any) -> dict[str, Any]:
    payload = transcript(
        "priv-1", [utterance("customer", "快递还没到"), utterance("agent", "您好，我帮您查一下")], **kwargs
    )
    resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


class TestCustomerId:
    def test_phone_number_stored_and_returned_masked(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        created = _post(client, auth, customer_id=PHONE)
        assert created["customer_id"] == MASKED_PHONE
        one = client.get(f"/v1/conversations/{created['id']}", headers=auth["auditor"]).json()
        listed = client.get("/v1/conversations", headers=auth["auditor"]).json()["items"]
        assert (one["customer_id"], [c["customer_id"] for c in listed]) == (MASKED_PHONE, [MASKED_PHONE])
        assert _stored(client)[0] == [MASKED_PHONE]

    def test_ordinary_id_kept(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        assert _post(client, auth, customer_id="c-1001")["customer_id"] == "c-1001"
        assert _stored(client)[0] == ["c-1001"]


class TestReviewNotes:
    def test_note_stored_and_returned_masked(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conv = _post(client, auth)
        note = f"客户留了电话{PHONE}，已回访"
        resp = client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "reviewed", "note": note},
            headers=auth["supervisor"],
        )
        assert resp.status_code == 200
        expected = f"客户留了电话{MASKED_PHONE}，已回访"
        assert [h["note"] for h in resp.json()["history"]] == [expected]
        history = client.get(f"/v1/conversations/{conv['id']}/reviews", headers=auth["auditor"]).json()
        assert [h["note"] for h in history["history"]] == [expected]
        full = client.get(f"/v1/conversations/{conv['id']}", headers=auth["supervisor"]).json()
        assert [r["note"] for r in full["reviews"]] == [expected]
        assert _stored(client)[1] == [expected]
        assert PHONE not in str(_stored(client)) + resp.text + str(history) + str(full)

    def test_ingest_reads_the_conversation_without_notes(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conv = _post(client, auth)
        client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "dismissed", "note": "误报"},
            headers=auth["supervisor"],
        )
        for role, count in (("ingest", 0), ("supervisor", 1), ("auditor", 1), ("admin", 1)):
            body = client.get(f"/v1/conversations/{conv['id']}", headers=auth[role]).json()
            assert len(body["reviews"]) == count, role
        # Re-posting the same transcript returns the conversation to ingest: still without notes.
        payload = transcript(
            "priv-1", [utterance("customer", "快递还没到"), utterance("agent", "您好，我帮您查一下")]
        )
        again = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
        assert (again.status_code, again.json()["reviews"]) == (200, [])
        notes = client.get(f"/v1/conversations/{conv['id']}/reviews", headers=auth["ingest"])
        assert notes.status_code == 403


class TestKeyNames:
    def test_key_name_masked(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = client.post(
            "/v1/admin/keys", json={"name": f"张三 {PHONE}", "role": "supervisor"}, headers=auth["admin"]
        )
        name = resp.json()["name"]
        assert (name.startswith("张三"), MASKED_PHONE in name, PHONE in name) == (True, True, False)
        assert name in _stored(client)[2]
        assert all(PHONE not in stored for stored in _stored(client)[2])
