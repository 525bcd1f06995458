"""Alert rules and de-duplication through the API, on SQLite and PostgreSQL.

Fixtures and helpers: tests/app/test_alerts_fixtures.py.
"""

from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import Alert
from app.db.session import session_scope
from tests.app import test_alerts_fixtures as fixtures
from tests.app.test_alerts_fixtures import ANGRY, CALM, ESCALATION, RUDE, alerts, post, settled
from tests.app.test_alerts_support import (
    Receiver,
)
from tests.factories.conversations import transcript

# The shared fixtures, found by pytest under these names (each module gets its own module-scoped ones).
rx, alert_lexicons, app, api, hdr = (
    fixtures.rx,
    fixtures.alert_lexicons,
    fixtures.app,
    fixtures.api,
    fixtures.hdr,
)


class TestRules:
    def test_escalation_threat_raises_one_major_alert(
        self, api: TestClient, hdr: dict[str, dict[str, str]]
    ) -> None:
        conv = post(api, hdr, "esc-1", ESCALATION, agent_id="a7")
        items = alerts(api, hdr)
        assert [(a["rule"], a["severity"], a["scope"]) for a in items] == [
            ("escalation_threat", "major", "conversation")
        ]
        alert = items[0]
        assert (alert["conversation_id"], alert["external_id"], alert["agent_id"]) == (
            conv["id"],
            "esc-1",
            "a7",
        )
        assert alert["title"] == "【重大】客户投诉升级威胁"
        assert "12315" in alert["summary"]
        assert "a7" in alert["summary"]
        assert [f["term"] for f in alert["details"]["findings"]] == ["12315"]
        assert alert["analysed_at"] is not None
        assert alert["acknowledged"] is False

    def test_customer_ending_angry(self, api: TestClient, hdr: dict[str, dict[str, str]]) -> None:
        post(api, hdr, "angry-1", ANGRY)
        assert [a["rule"] for a in alerts(api, hdr)] == ["customer_ends_angry"]

    def test_low_score_and_major_finding(self, api: TestClient, hdr: dict[str, dict[str, str]]) -> None:
        conv = post(api, hdr, "rude-1", RUDE)
        assert conv["score"] < 50
        assert sorted(a["rule"] for a in alerts(api, hdr)) == ["low_score", "major_finding"]

    def test_calm_conversation_raises_nothing(self, api: TestClient, hdr: dict[str, dict[str, str]]) -> None:
        post(api, hdr, "calm-1", CALM)
        assert alerts(api, hdr) == []
        assert api.get("/v1/alerts/summary", headers=hdr["auditor"]).json()["unacknowledged"] == 0

    def test_agent_flagged_twice_in_a_day_in_the_centre_time_zone(
        self, api: TestClient, hdr: dict[str, dict[str, str]]
    ) -> None:
        # agent_flagged_per_day is 2 here; days are Asia/Shanghai days (AUDIT_TIMEZONE).
        post(api, hdr, "day-1", ANGRY, agent_id="b1", started_at="2026-11-20T00:10:00+08:00")
        assert alerts(api, hdr, rule="agent_flagged_daily") == []
        post(api, hdr, "day-2", ANGRY, agent_id="b1", started_at="2026-11-20T23:50:00+08:00")
        post(
            api, hdr, "day-3", ANGRY, agent_id="b1", started_at="2026-11-20T15:00:00+00:00"
        )  # 21 Nov in Shanghai
        post(
            api, hdr, "day-4", ANGRY, agent_id="b1", started_at="2026-11-20T12:00:00+08:00"
        )  # third on the 20th
        post(api, hdr, "day-5", ANGRY, agent_id="b2", started_at="2026-11-20T12:00:00+08:00")  # another agent
        daily = alerts(api, hdr, rule="agent_flagged_daily")
        assert [(a["agent_id"], a["day"], a["external_id"], a["details"]["flagged"]) for a in daily] == [
            ("b1", "2026-11-20", "day-2", 2)
        ]


class TestDeduplication:
    def test_reanalysis_and_repost_never_alert_twice(
        self, api: TestClient, hdr: dict[str, dict[str, str]], rx: Receiver
    ) -> None:
        conv = post(api, hdr, "dup-1", ESCALATION)
        (first,) = alerts(api, hdr)
        settled(api, hdr, first["id"])
        for _ in range(2):
            resp = api.post(f"/v1/conversations/{conv['id']}/reanalyze", headers=hdr["admin"])
            assert resp.status_code == 200, resp.text
        again = api.post("/v1/conversations", json=transcript("dup-1", ESCALATION), headers=hdr["ingest"])
        assert again.status_code == 200
        time.sleep(1.0)  # a duplicate would have been raised and sent by now
        assert [a["id"] for a in alerts(api, hdr)] == [first["id"]]
        assert [len(rx.of(k, "dup-1")) for k in ("webhook", "wecom", "dingtalk", "feishu")] == [1, 1, 1, 1]

    def test_the_database_refuses_a_second_alert_with_the_same_key(
        self, api: TestClient, hdr: dict[str, dict[str, str]]
    ) -> None:
        post(api, hdr, "dup-2", ESCALATION)
        (alert,) = alerts(api, hdr)
        factory = api.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as s:
            key = s.scalars(select(Alert.dedup_key).where(Alert.id == uuid.UUID(alert["id"]))).one()
            assert key == f"escalation_threat|c|{alert['conversation_id']}"
        twin = Alert(
            dedup_key=key,
            rule="escalation_threat",
            rule_name="客户投诉升级威胁",
            severity=3,
            scope="conversation",
            agent_id="agent-007",
            title="t",
            summary="s",
            details={},
            acknowledged=False,
        )
        with pytest.raises(IntegrityError), session_scope(factory) as s:
            s.add(twin)
