"""The alert listing, summary, stream, acknowledgement, roles and bad input through the API.

Fixtures and helpers: tests/app/test_alerts_fixtures.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.app import test_alerts_fixtures as fixtures
from tests.app.test_alerts_fixtures import ANGRY, ESCALATION, alerts, post

# The shared fixtures, found by pytest under these names (each module gets its own module-scoped ones).
rx, alert_lexicons, app, api, hdr = (
    fixtures.rx,
    fixtures.alert_lexicons,
    fixtures.app,
    fixtures.api,
    fixtures.hdr,
)


class TestListing:
    def test_unacknowledged_first_then_newest_with_cursor(
        self, api: TestClient, hdr: dict[str, dict[str, str]]
    ) -> None:
        for i in range(3):
            post(api, hdr, f"ord-{i}", ESCALATION, agent_id=f"o{i}")  # one each: no agent-day alert
        ids = [a["id"] for a in alerts(api, hdr)]
        assert [a["external_id"] for a in alerts(api, hdr)] == ["ord-2", "ord-1", "ord-0"]
        ack = api.post(f"/v1/alerts/{ids[0]}/ack", headers=hdr["supervisor"])
        assert ack.status_code == 200
        assert [a["external_id"] for a in alerts(api, hdr)] == ["ord-1", "ord-0", "ord-2"]
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = api.get("/v1/alerts", params=params, headers=hdr["auditor"]).json()
            assert page["total"] == 3
            seen += [a["external_id"] for a in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["ord-1", "ord-0", "ord-2"]
        assert [a["external_id"] for a in alerts(api, hdr, acknowledged="true")] == ["ord-2"]
        assert len(alerts(api, hdr, acknowledged="false", severity="major", rule="escalation_threat")) == 2
        assert alerts(api, hdr, severity="important") == []
        assert alerts(api, hdr, since="2100-01-01") == []
        assert len(alerts(api, hdr, until="2100-01-01T00:00:00+08:00")) == 3

    def test_summary_counts_unacknowledged(self, api: TestClient, hdr: dict[str, dict[str, str]]) -> None:
        post(api, hdr, "sum-1", ESCALATION, agent_id="s1")
        post(api, hdr, "sum-2", ANGRY, agent_id="s2")
        summary = api.get("/v1/alerts/summary", headers=hdr["supervisor"]).json()
        newest = alerts(api, hdr)[0]
        assert summary == {
            "unacknowledged": 2,
            "unacknowledged_by_severity": {"general": 0, "important": 1, "major": 1},
            "latest_id": newest["id"],
            "latest_created_at": newest["created_at"],
        }
        api.post(f"/v1/alerts/{newest['id']}/ack", headers=hdr["admin"])
        assert api.get("/v1/alerts/summary", headers=hdr["auditor"]).json()["unacknowledged"] == 1

    def test_stream_without_event_stream_accept_sends_the_summary_and_ends(
        self, api: TestClient, hdr: dict[str, dict[str, str]]
    ) -> None:
        post(api, hdr, "sse-1", ESCALATION)
        resp = api.get("/v1/alerts/stream", headers=hdr["auditor"])
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [e for e in resp.text.split("\n\n") if e.startswith("event: summary")]
        assert len(events) == 1
        assert json.loads(events[0].split("data: ", 1)[1])["unacknowledged"] == 1


class TestAcknowledge:
    def test_who_and_when_recorded_first_ack_kept(
        self, api: TestClient, hdr: dict[str, dict[str, str]]
    ) -> None:
        post(api, hdr, "ack-1", ESCALATION)
        (alert,) = alerts(api, hdr)
        first = api.post(f"/v1/alerts/{alert['id']}/ack", headers=hdr["supervisor"]).json()
        assert (first["acknowledged"], first["acknowledged_by_name"], first["acknowledged_by_role"]) == (
            True,
            "alerts-supervisor",
            "supervisor",
        )
        assert first["acknowledged_at"] is not None
        assert first["acknowledged_by_id"] is not None
        second = api.post(f"/v1/alerts/{alert['id']}/ack", headers=hdr["admin"]).json()
        assert (second["acknowledged_by_name"], second["acknowledged_at"]) == (
            "alerts-supervisor",
            first["acknowledged_at"],
        )
        detail = api.get(f"/v1/alerts/{alert['id']}", headers=hdr["auditor"]).json()
        assert detail["acknowledged_by_role"] == "supervisor"


class TestRolesAndInput:
    def test_roles(self, api: TestClient, hdr: dict[str, dict[str, str]]) -> None:
        post(api, hdr, "role-1", ESCALATION)
        (alert,) = alerts(api, hdr)
        for role in ("ingest", "agent"):
            assert api.get("/v1/alerts", headers=hdr[role]).status_code == 403
            assert api.get("/v1/alerts/summary", headers=hdr[role]).status_code == 403
            assert api.get(f"/v1/alerts/{alert['id']}", headers=hdr[role]).status_code == 403
        resp = api.post(f"/v1/alerts/{alert['id']}/ack", headers=hdr["auditor"])
        assert (resp.status_code, resp.json()["error"]["code"]) == (403, "forbidden")
        assert alerts(api, hdr)[0]["acknowledged"] is False  # the refused ack changed nothing
        assert api.get("/v1/alerts").status_code == 401

    @pytest.mark.parametrize(
        ("params", "status", "code"),
        [
            ({"severity": "catastrophic"}, 422, "validation_error"),
            ({"acknowledged": "maybe"}, 422, "validation_error"),
            ({"since": "2026-11-21", "until": "2026-11-20"}, 422, "validation_error"),
            ({"since": "1999-01-01"}, 422, "validation_error"),
            ({"limit": 0}, 422, "validation_error"),
            ({"rule": "a\x00b"}, 422, "validation_error"),
            ({"colour": "red"}, 422, "validation_error"),
            ({"cursor": "bm90LWEtY3Vyc29y"}, 400, "invalid_cursor"),
            ({"severity": ["major", "general"]}, 422, "validation_error"),
        ],
    )
    def test_bad_listing_input(
        self, api: TestClient, hdr: dict[str, dict[str, str]], params: dict[str, Any], status: int, code: str
    ) -> None:
        resp = api.get("/v1/alerts", params=params, headers=hdr["supervisor"])
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code)

    def test_unknown_and_malformed_ids(self, api: TestClient, hdr: dict[str, dict[str, str]]) -> None:
        unknown = "00000000-0000-4000-8000-000000000000"
        for resp in (
            api.get(f"/v1/alerts/{unknown}", headers=hdr["supervisor"]),
            api.post(f"/v1/alerts/{unknown}/ack", headers=hdr["supervisor"]),
        ):
            assert (resp.status_code, resp.json()["error"]["code"]) == (404, "alert_not_found")
        resp = api.get("/v1/alerts/not-a-uuid", headers=hdr["supervisor"])
        assert resp.status_code == 422
