"""Bad input gets a 4xx in the one error format, never a 500: times, numbers, ids, cursors, filters."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories.conversations import transcript, utterance

Auth = dict[str, dict[str, str]]
UTTERANCES = [utterance("customer", "快递到哪了"), utterance("agent", "您好，请稍等，我帮您查一下")]


def _error(resp: Any, status: int, code: str) -> Any:
    """Assert the status and the one error format; return `details`."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]["details"]


def _locs(details: list[dict[str, Any]]) -> list[list[Any]]:
    return [d["loc"] for d in details]


def _post(client: TestClient, auth: Auth, **overrides: Any) -> Any:
    payload = transcript("v-1", UTTERANCES)
    payload.update(overrides)
    return client.post("/v1/conversations", json=payload, headers=auth["ingest"])


def _search(client: TestClient, auth: Auth, query: str) -> Any:
    return client.get(f"/v1/conversations?{query}", headers=auth["auditor"])


class TestNaiveTimesAreCentreTime:
    def test_until_date_without_zone_is_read_in_asia_shanghai(self, client: TestClient, auth: Auth) -> None:
        # 23:30 in Shanghai on 30 Nov is 15:30 UTC; 00:30 on 1 Dec is 16:30 UTC on 30 Nov: both before
        # 2026-12-01 UTC, so only reading the bare date in the centre's zone tells them apart.
        for ext, started in (("late", "2026-11-30T23:30:00+08:00"), ("next", "2026-12-01T00:30:00+08:00")):
            payload = transcript(ext, UTTERANCES, started_at=started)
            assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201
        resp = _search(client, auth, "until=2026-12-01")
        assert resp.status_code == 200, resp.text
        assert [i["external_id"] for i in resp.json()["items"]] == ["late"]
        resp = _search(client, auth, "since=2026-12-01T00:00:00")
        assert [i["external_id"] for i in resp.json()["items"]] == ["next"]

    def test_started_at_without_zone_is_read_in_asia_shanghai(self, client: TestClient, auth: Auth) -> None:
        resp = _post(client, auth, started_at="2026-11-20T09:30:00")
        assert resp.status_code == 201, resp.text
        stored = client.get(f"/v1/conversations/{resp.json()['id']}", headers=auth["auditor"]).json()
        assert datetime.fromisoformat(stored["started_at"]) == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)

    def test_openapi_says_how_naive_times_are_read(self, client: TestClient) -> None:
        spec = client.get("/openapi.json").json()
        params = {p["name"]: p for p in spec["paths"]["/v1/conversations"]["get"]["parameters"]}
        for name in ("since", "until"):
            assert "Asia/Shanghai" in params[name]["description"]
        started = spec["components"]["schemas"]["ConversationCreate"]["properties"]["started_at"]
        assert "Asia/Shanghai" in started["description"]


class TestTimeRange:
    @pytest.mark.parametrize(
        "value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "1999-12-31"]
    )
    def test_started_at_out_of_range(self, client: TestClient, auth: Auth, value: str) -> None:
        details = _error(_post(client, auth, started_at=value), 422, "validation_error")
        assert _locs(details) == [["body", "started_at"]]

    @pytest.mark.parametrize("param", ["since", "until"])
    def test_query_time_out_of_range(self, client: TestClient, auth: Auth, param: str) -> None:
        details = _error(_search(client, auth, f"{param}=9999-12-31T23:59:59-23:59"), 422, "validation_error")
        assert _locs(details) == [["query", param]]


class TestNumbersFitTheDatabase:
    @pytest.mark.parametrize("field", ["start_ms", "end_ms"])
    def test_offset_beyond_int32(self, client: TestClient, auth: Auth, field: str) -> None:
        utts = [utterance("customer", "在吗"), {"speaker": "agent", "text": "在的", field: 2**63}]
        details = _error(_post(client, auth, utterances=utts), 422, "validation_error")
        assert _locs(details) == [["body", "utterances", 1, field]]

    @pytest.mark.parametrize("value", [False, "12", 1.5, -1])
    def test_offset_must_be_a_whole_number(self, client: TestClient, auth: Auth, value: Any) -> None:
        utts = [{"speaker": "customer", "text": "在吗", "end_ms": value}]
        details = _error(_post(client, auth, utterances=utts), 422, "validation_error")
        assert _locs(details) == [["body", "utterances", 0, "end_ms"]]

    def test_largest_offset_is_stored(self, client: TestClient, auth: Auth) -> None:
        utts = [utterance("customer", "在吗", 0, 2**31 - 1)]
        resp = _post(client, auth, utterances=utts)
        assert resp.status_code == 201, resp.text
        assert resp.json()["utterances"][0]["end_ms"] == 2**31 - 1

    @pytest.mark.parametrize("query", ["score_min=-1", "score_max=100.5", "score_min=nan", "score_max=inf"])
    def test_score_bounds(self, client: TestClient, auth: Auth, query: str) -> None:
        details = _error(_search(client, auth, query), 422, "validation_error")
        assert _locs(details) == [["query", query.split("=")[0]]]


class TestControlCharacters:
    @pytest.mark.parametrize("field", ["agent_id", "external_id", "customer_id"])
    def test_nul_in_ids(self, client: TestClient, auth: Auth, field: str) -> None:
        details = _error(_post(client, auth, **{field: "a\x00b"}), 422, "validation_error")
        assert _locs(details) == [["body", field]]
        assert _search(client, auth, "").json()["total"] == 0

    @pytest.mark.parametrize("text", ["快递\x00到哪了", "快递\x1b[31m到哪了", "\ud800快递", "快递\ufffd"])
    def test_control_characters_in_text(self, client: TestClient, auth: Auth, text: str) -> None:
        payload = transcript("v-1", [utterance("customer", text)])
        # Sent as ASCII JSON: a lone surrogate can only travel as a \u escape.
        resp = client.post(
            "/v1/conversations",
            content=json.dumps(payload),
            headers={**auth["ingest"], "Content-Type": "application/json"},
        )
        details = _error(resp, 422, "validation_error")
        assert _locs(details) == [["body", "utterances", 0, "text"]]

    def test_line_breaks_and_tabs_in_text_are_kept(self, client: TestClient, auth: Auth) -> None:
        resp = _post(client, auth, utterances=[utterance("customer", "快递\n到哪了\t？")])
        assert resp.status_code == 201, resp.text
        assert resp.json()["utterances"][0]["text"] == "快递\n到哪了\t？"

    @pytest.mark.parametrize("param", ["agent_id", "keyword", "q", "category", "term"])
    def test_nul_in_query(self, client: TestClient, auth: Auth, param: str) -> None:
        details = _error(_search(client, auth, f"{param}=a%00b"), 422, "validation_error")
        assert _locs(details) == [["query", param]]

    def test_nul_in_review_note(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth).json()
        resp = client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "reviewed", "note": "ok\x00"},
            headers=auth["supervisor"],
        )
        assert _locs(_error(resp, 422, "validation_error")) == [["body", "note"]]

    def test_nul_in_key_name(self, client: TestClient, auth: Auth) -> None:
        resp = client.post("/v1/admin/keys", json={"name": "x\x00", "role": "auditor"}, headers=auth["admin"])
        assert _locs(_error(resp, 422, "validation_error")) == [["body", "name"]]

    def test_nul_in_audio_metadata(self, client: TestClient, auth: Auth) -> None:
        fields = {"external_id": "rec-1", "agent_id": "a\x00", "started_at": "2026-11-20T09:30:00+08:00"}
        resp = client.post(
            "/v1/conversations/audio",
            data=fields,
            files={"file": ("a.wav", b"RIFF", "audio/wav")},
            headers=auth["ingest"],
        )
        assert _locs(_error(resp, 422, "validation_error")) == [["body", "agent_id"]]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


GOOD_ID = str(uuid.uuid4())
BAD_CURSORS = {
    "deeply nested": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),
    "nested, short": _cursor([[[[[[1]]]]]]),
    "object": _cursor({"severity": 1}),
    "number": _cursor(7),
    "null": _cursor(None),
    "two items": _cursor([1, "2026-11-20T01:30:00+00:00"]),
    "bool severity": _cursor([True, "2026-11-20T01:30:00+00:00", GOOD_ID]),
    "huge severity": _cursor([10**30, "2026-11-20T01:30:00+00:00", GOOD_ID]),
    "float severity": _cursor([1.5, "2026-11-20T01:30:00+00:00", GOOD_ID]),
    "naive time": _cursor([1, "2026-11-20T01:30:00", GOOD_ID]),
    "overflowing time": _cursor([1, "9999-12-31T23:59:59-23:59", GOOD_ID]),
    "time not a string": _cursor([1, 20261120, GOOD_ID]),
    "bad id": _cursor([1, "2026-11-20T01:30:00+00:00", "not-a-uuid"]),
    "id not a string": _cursor([1, "2026-11-20T01:30:00+00:00", 12]),
    "not base64": "%%%garbage",
    "not ascii": "游标",
    "nul": "abc\x00",
    "not json": base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "too long": "A" * 5000,
}


class TestCursor:
    @pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
    def test_a_cursor_we_did_not_issue(self, client: TestClient, auth: Auth, cursor: str) -> None:
        resp = client.get("/v1/conversations", params={"cursor": cursor}, headers=auth["auditor"])
        assert _error(resp, 400, "invalid_cursor") is None

    def test_issued_cursor_pages_on(self, client: TestClient, auth: Auth) -> None:
        for n in range(3):
            payload = transcript(f"p-{n}", UTTERANCES, started_at=f"2026-11-2{n}T09:30:00+08:00")
            assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201
        first = _search(client, auth, "limit=2").json()
        second = _search(client, auth, f"limit=2&cursor={first['next_cursor']}").json()
        assert [i["external_id"] for i in first["items"] + second["items"]] == ["p-2", "p-1", "p-0"]


class TestFiltersThatNeedAnother:
    def test_unknown_filter(self, client: TestClient, auth: Auth) -> None:
        details = _error(_search(client, auth, "agentid=a1"), 422, "validation_error")
        assert _locs(details) == [["query", "agentid"]]

    def test_speaker_alone(self, client: TestClient, auth: Auth) -> None:
        details = _error(_search(client, auth, "speaker=customer"), 422, "validation_error")
        assert "speaker" in details[0]["msg"]

    @pytest.mark.parametrize(
        "query",
        ["speaker=customer&emotion=angry", "speaker=customer&min_confidence=0.8", "min_confidence=0.8"],
    )
    def test_speaker_with_an_emotion_filter(self, client: TestClient, auth: Auth, query: str) -> None:
        resp = _search(client, auth, query)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"items": [], "next_cursor": None, "total": 0, "total_exact": True}

    @pytest.mark.parametrize(
        ("query", "word"),
        [
            ("score_min=80&score_max=20", "score_min"),
            ("since=2026-12-01T00:00:00%2B08:00&until=2026-11-01T00:00:00%2B08:00", "since"),
            ("since=2026-12-01&until=2026-12-01", "since"),
        ],
    )
    def test_contradictory_ranges(self, client: TestClient, auth: Auth, query: str, word: str) -> None:
        details = _error(_search(client, auth, query), 422, "validation_error")
        assert word in details[0]["msg"]
