"""Posting transcripts through the API: storage, audit, idempotency, batches and bad input."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories.conversations import jddc_transcript, transcript, utterance

RUDE_CALL = [
    utterance("customer", "你好，我的快递三天了还没到，单号查不到", 0, 4000),
    utterance("agent", "不知道，你自己查物流吧", 9000, 11000),
    utterance("customer", "什么态度！我要投诉你们，再不处理我就打12315", 12000, 16000),
    utterance("customer", "我的电话是13812345678，赶紧给我回电", 16500, 19000),
]


def _post(client: TestClient, auth: dict[str, dict[str, str]], payload: dict[str, Any]) -> Any:
    return client.post("/v1/conversations", json=payload, headers=auth["ingest"])


class TestCreateConversation:
    def test_stores_masks_and_audits(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = _post(client, auth, transcript("call-1", RUDE_CALL, channel="phone"))
        assert resp.status_code == 201
        body = resp.json()
        assert body["status"] == "analysed"
        assert body["external_id"] == "call-1"
        assert [u["speaker"] for u in body["utterances"]] == ["customer", "agent", "customer", "customer"]
        # The phone number never reaches storage.
        stored = body["utterances"][3]["text"]
        assert "13812345678" not in stored
        pii = [f for f in body["findings"] if f["kind"] == "pii"]
        assert [(f["category"], f["utterance_index"], f["term"]) for f in pii] == [("mobile", 3, None)]
        texts = {u["index"]: u["text"] for u in body["utterances"]}
        words = {(f["category"], f["term"]) for f in body["findings"] if f["kind"] == "sensitive_word"}
        assert ("服务禁语", "不知道") in words
        assert ("服务禁语", "你自己看") in words
        assert ("投诉升级", "投诉") in words
        assert ("投诉升级", "12315") in words
        for f in body["findings"]:
            if f["kind"] == "sensitive_word":
                # Offsets point into the stored text of that utterance.
                assert texts[f["utterance_index"]][f["start"] : f["end"]] != ""
        hit = next(f for f in body["findings"] if f["term"] == "不知道")
        assert texts[hit["utterance_index"]][hit["start"] : hit["end"]] == "不知道"
        # 12315 from the customer is a 重大 escalation threat.
        assert body["severity"] == "major"
        assert body["flagged"] is True
        assert body["review_status"] == "unreviewed"
        assert 0 <= body["score"] < 100
        assert body["score_breakdown"]["total"] == body["score"]
        # Phone: the first answer is measured from the start of the call.
        assert body["metrics"]["first_response_ms"] == 9000
        assert body["metrics"]["max_response_ms"] == 5000
        assert body["lexicon_version"]

    def test_read_back_is_the_same(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        created = _post(client, auth, transcript("call-2", RUDE_CALL)).json()
        for role in ("ingest", "supervisor", "auditor"):
            got = client.get(f"/v1/conversations/{created['id']}", headers=auth[role])
            assert got.status_code == 200
            assert got.json()["findings"] == created["findings"]
            assert got.json()["utterances"] == created["utterances"]

    def test_polite_real_session_is_not_flagged(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        resp = _post(client, auth, jddc_transcript(0))
        assert resp.status_code == 201
        body = resp.json()
        assert body["status"] == "analysed"
        assert [f for f in body["findings"] if f["kind"] == "sensitive_word"] == []
        assert body["flagged"] is False
        assert any(k["term"] == "地址" for k in body["keywords"])


class TestIdempotency:
    def test_repost_returns_the_same_conversation(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        payload = transcript("call-3", RUDE_CALL)
        first = _post(client, auth, payload)
        second = _post(client, auth, payload)
        assert (first.status_code, second.status_code) == (201, 200)
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["findings"] == first.json()["findings"]
        listing = client.get("/v1/conversations", headers=auth["auditor"]).json()
        assert listing["total"] == 1

    def test_same_id_other_content_conflicts(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        first = _post(client, auth, transcript("call-4", RUDE_CALL))
        other = _post(client, auth, transcript("call-4", RUDE_CALL[:2]))
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "conflict"
        kept = client.get(f"/v1/conversations/{first.json()['id']}", headers=auth["auditor"]).json()
        assert len(kept["utterances"]) == 4


class TestBatch:
    def test_reports_each_item_and_keeps_the_good_ones(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        good = [jddc_transcript(n) for n in range(1, 4)]
        bad = transcript("bad-1", [utterance("robot", "你好")])
        items = [good[0], bad, good[1], good[2], good[0]]
        resp = client.post("/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"])
        assert resp.status_code == 200
        body = resp.json()
        assert (body["created"], body["existing"], body["failed"]) == (3, 1, 1)
        assert [r["status"] for r in body["results"]] == [
            "created",
            "error",
            "created",
            "created",
            "existing",
        ]
        assert body["results"][1]["error"]["code"] == "validation_error"
        assert body["results"][1]["external_id"] == "bad-1"
        assert client.get("/v1/conversations", headers=auth["auditor"]).json()["total"] == 3

    def test_oversized_batch_is_refused_whole(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        items = [transcript(f"b-{i}", [utterance("customer", "你好")]) for i in range(101)]
        resp = client.post("/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"])
        assert resp.status_code == 413
        assert resp.json()["error"]["code"] == "payload_too_large"
        assert client.get("/v1/conversations", headers=auth["auditor"]).json()["total"] == 0


class TestBadInput:
    def _assert_422(self, resp: Any) -> None:
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "validation_error"
        assert resp.json()["error"]["details"]

    def test_malformed_json(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = client.post(
            "/v1/conversations",
            content=b'{"external_id": "x", ',
            headers={**auth["ingest"], "Content-Type": "application/json"},
        )
        self._assert_422(resp)

    def test_invalid_utf8(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        body = b'{"external_id":"x","channel":"chat","agent_id":"a","started_at":"2026-11-20T09:30:00+08:00",'
        body += b'"utterances":[{"speaker":"customer","text":"\xff\xfe\xe4"}]}'
        resp = client.post(
            "/v1/conversations", content=body, headers={**auth["ingest"], "Content-Type": "application/json"}
        )
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "invalid_body"

    def test_each_invalid_field(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        ok = transcript("x-1", [utterance("customer", "你好")])
        cases: list[dict[str, Any]] = [
            {**ok, "utterances": []},
            {**ok, "utterances": [utterance("robot", "你好")]},
            {**ok, "utterances": [utterance("customer", "长" * 5001)]},
            {**ok, "utterances": [utterance("customer", "   ")]},
            {**ok, "utterances": [utterance("customer", "你好", 5000, 1000)]},
            {**ok, "channel": "fax"},
            # Out of range; a time without an offset is read in the centre's zone (test_validation.py).
            {**ok, "started_at": "1999-12-31T23:59:59+08:00"},
            {**ok, "started_at": "yesterday"},
            {**ok, "agent_id": 7},
            {**ok, "unknown_field": 1},
            {k: v for k, v in ok.items() if k != "external_id"},
        ]
        for case in cases:
            self._assert_422(_post(client, auth, case))
        assert client.get("/v1/conversations", headers=auth["auditor"]).json()["total"] == 0

    def test_bad_input_loses_nothing_stored(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        first = _post(client, auth, transcript("keep-1", RUDE_CALL)).json()
        self._assert_422(_post(client, auth, {**transcript("keep-1", RUDE_CALL), "utterances": []}))
        again = client.get(f"/v1/conversations/{first['id']}", headers=auth["auditor"]).json()
        assert again["utterances"] == first["utterances"]
        assert again["findings"] == first["findings"]

    def test_unknown_and_malformed_ids(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        missing = client.get(
            "/v1/conversations/5f0c6b4e-2a43-4d7f-9d2c-3a1e4b5c6d7e", headers=auth["auditor"]
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        malformed = client.get("/v1/conversations/not-a-uuid", headers=auth["auditor"])
        assert malformed.status_code == 422

    def test_bad_cursor(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = client.get("/v1/conversations?cursor=garbage", headers=auth["auditor"])
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "invalid_cursor"
