"""The supervisor queue and the auditor search: order, cursor pages, every filter, counts."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories.conversations import jddc_transcript, transcript, utterance


def _seed(client: TestClient, auth: dict[str, dict[str, str]]) -> dict[str, str]:
    """Five conversations of known severity, agent, channel and time; returns external_id -> id."""
    payloads = [
        transcript(
            "major-old",
            [utterance("customer", "在吗"), utterance("agent", "你问我我问谁")],
            agent_id="a1",
            started_at="2026-11-18T10:00:00+08:00",
        ),
        transcript(
            "important-new",
            [utterance("customer", "再这样我要投诉你们"), utterance("agent", "您好，非常抱歉给您带来不便")],
            agent_id="a2",
            channel="phone",
            started_at="2026-11-20T10:00:00+08:00",
        ),
        transcript(
            "important-old",
            [
                utterance("customer", "再不退款我就给差评然后投诉"),
                utterance("agent", "您好，我理解您的感受，马上为您处理"),
            ],
            agent_id="a1",
            started_at="2026-11-19T10:00:00+08:00",
        ),
        jddc_transcript(0, external_id="clean-1", agent_id="a2"),
        jddc_transcript(5, external_id="clean-2", agent_id="a3"),
    ]
    ids = {}
    for p in payloads:
        resp = client.post("/v1/conversations", json=p, headers=auth["ingest"])
        assert resp.status_code == 201, resp.text
        ids[p["external_id"]] = resp.json()["id"]
    return ids


def _ext(page: dict[str, Any]) -> list[str]:
    return [i["external_id"] for i in page["items"]]


class TestQueue:
    def test_most_severe_then_newest_with_cursor(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        _seed(client, auth)
        url = "/v1/conversations?flagged=true&review_status=unreviewed&limit=2"
        first = client.get(url, headers=auth["supervisor"]).json()
        assert first["total"] == 3
        assert _ext(first) == ["major-old", "important-new"]
        assert [i["severity"] for i in first["items"]] == ["major", "important"]
        second = client.get(f"{url}&cursor={first['next_cursor']}", headers=auth["supervisor"]).json()
        assert _ext(second) == ["important-old"]
        assert second["next_cursor"] is None


class TestFilters:
    def test_each_filter(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        _seed(client, auth)

        def q(query: str) -> list[str]:
            resp = client.get(f"/v1/conversations?{query}", headers=auth["auditor"])
            assert resp.status_code == 200, resp.text
            return sorted(_ext(resp.json()))

        assert q("agent_id=a1") == ["important-old", "major-old"]
        assert q("channel=phone") == ["important-new"]
        assert q("severity_min=major") == ["major-old"]
        assert q("category=投诉升级") == ["important-new", "important-old"]
        assert q("kind=sensitive_word&agent_id=a2") == ["important-new"]
        assert q("term=差评") == ["important-old"]
        assert q("since=2026-11-19T00:00:00%2B08:00&until=2026-11-20T00:00:00%2B08:00") == ["important-old"]
        assert q("flagged=false") == ["clean-1", "clean-2"]
        assert q("keyword=退款") == ["important-old"]
        assert q("q=差评然后") == ["important-old"]
        assert q("q=100%25") == []
        assert q("score_min=0") == ["clean-1", "clean-2", "important-new", "important-old", "major-old"]

    def test_invalid_filter_values(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        for query in (
            "severity_min=huge",
            "channel=fax",
            "since=yesterday",
            "limit=0",
            "min_confidence=2",
            "score_max=-1",
            "speaker=customer",
        ):
            resp = client.get(f"/v1/conversations?{query}", headers=auth["auditor"])
            assert resp.status_code == 422, query
            assert resp.json()["error"]["code"] == "validation_error"
