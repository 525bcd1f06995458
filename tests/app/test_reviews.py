"""Supervisors mark conversations reviewed or dismissed; the history is kept."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories.conversations import transcript, utterance


def _flagged(client: TestClient, auth: dict[str, dict[str, str]]) -> str:
    payload = transcript("rev-1", [utterance("customer", "我要投诉"), utterance("agent", "这不归我管")])
    resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
    assert resp.json()["flagged"] is True
    return str(resp.json()["id"])


class TestReview:
    def test_review_then_dismiss_keeps_history(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        cid = _flagged(client, auth)
        first = client.post(
            f"/v1/conversations/{cid}/review",
            json={"status": "reviewed", "note": "已约谈坐席"},
            headers=auth["supervisor"],
        )
        assert first.status_code == 200
        assert first.json()["review_status"] == "reviewed"
        second = client.post(
            f"/v1/conversations/{cid}/review", json={"status": "dismissed"}, headers=auth["supervisor"]
        )
        history = second.json()["history"]
        assert [(h["status"], h["note"], h["reviewer"]) for h in history] == [
            ("reviewed", "已约谈坐席", "test-supervisor"),
            ("dismissed", None, "test-supervisor"),
        ]
        got = client.get(f"/v1/conversations/{cid}", headers=auth["auditor"]).json()
        assert got["review_status"] == "dismissed"
        assert len(got["reviews"]) == 2
        queue = client.get(
            "/v1/conversations?flagged=true&review_status=unreviewed", headers=auth["supervisor"]
        )
        assert queue.json()["total"] == 0

    def test_invalid_review(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        cid = _flagged(client, auth)
        bad = client.post(
            f"/v1/conversations/{cid}/review", json={"status": "approved"}, headers=auth["supervisor"]
        )
        assert bad.status_code == 422
        missing = client.post(
            "/v1/conversations/5f0c6b4e-2a43-4d7f-9d2c-3a1e4b5c6d7e/review",
            json={"status": "reviewed"},
            headers=auth["supervisor"],
        )
        assert missing.status_code == 404
        assert (
            client.get(f"/v1/conversations/{cid}", headers=auth["auditor"]).json()["review_status"]
            == "unreviewed"
        )
