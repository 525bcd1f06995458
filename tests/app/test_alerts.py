"""Alerts (预警) through the API, on SQLite and PostgreSQL: rules, de-duplication, deliveries to a real
receiver on 127.0.0.1 in all four formats with retries, the listing, acknowledgement, roles and bad input."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.auth.service import create_key
from app.db import Alert, AlertDelivery, Base
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT
from tests.app.conftest import make_settings
from tests.app.test_alerts_support import (
    Receiver,
    dingtalk_signature_ok,
    feishu_signature_ok,
    receiver,
    targets,
    webhook_signature_ok,
)
from tests.factories.conversations import transcript, utterance

ESCALATION = [utterance("customer", "我要打12315投诉你们"), utterance("agent", "您好，请稍等")]
ANGRY = [
    utterance("customer", "快递三天了还没到"),
    utterance("agent", "您好，请稍等"),
    utterance("customer", "你们这什么破服务，气死我了，太过分了！"),
]
RUDE = [
    utterance("customer", "我的货呢"),
    utterance("agent", "不知道，你自己查"),
    utterance("customer", "你们怎么这样"),
    utterance("agent", "不知道，关我什么事，爱买不买"),
]
CALM = [
    utterance("customer", "请问这个什么时候发货"),
    utterance("agent", "您好，今天下午就发货，请问还有什么可以帮您"),
    utterance("customer", "好的谢谢"),
    utterance("agent", "不客气，祝您生活愉快"),
]


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    """The receiver every target of the module's app points at."""
    with receiver() as r:
        yield r


@pytest.fixture(scope="module")
def alert_lexicons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's lexicons, with the agent-day threshold lowered to 2 (fewer posts per test)."""
    target = tmp_path_factory.mktemp("alert-lexicons") / "lexicons"
    shutil.copytree(REPO_ROOT / "lexicons", target)
    path = target / "alerts.yaml"
    text = path.read_text(encoding="utf-8")
    assert "agent_flagged_per_day: 5" in text
    path.write_text(text.replace("agent_flagged_per_day: 5", "agent_flagged_per_day: 2"), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def app(
    backend_url: str, tmp_path_factory: pytest.TempPathFactory, rx: Receiver, alert_lexicons: Path
) -> Iterator[TestClient]:
    """An app whose alerts go to the receiver: fast retries, three attempts at most."""
    settings = make_settings(
        tmp_path_factory.mktemp("alerts-app"),
        backend_url,
        lexicon_dir=alert_lexicons,
        alert_targets=json.dumps(targets(rx)),
        alert_retry_base_seconds=0.2,
        alert_max_attempts=3,
        alert_poll_seconds=0.5,
        emotion_enabled=True,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(app: TestClient, rx: Receiver) -> Iterator[TestClient]:
    """The app, emptied after each test; the receiver reset before."""
    rx.reset()
    yield app
    factory = app.app.state.session_factory  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the dispatcher done with this test's deliveries before they go
        with session_scope(factory, read_only=True) as s:
            if not s.scalar(select(AlertDelivery.id).where(AlertDelivery.status == "pending").limit(1)):
                break
        time.sleep(0.1)
    with session_scope(app.app.state.session_factory) as s:  # type: ignore[attr-defined]
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))


@pytest.fixture
def hdr(api: TestClient) -> dict[str, dict[str, str]]:
    """Authorization headers per role."""
    out = {}
    with session_scope(api.app.state.session_factory) as s:  # type: ignore[attr-defined]
        for role in ("ingest", "supervisor", "auditor", "admin", "agent"):
            extra: dict[str, Any] = {"agent_id": "a7"} if role == "agent" else {}
            _, key = create_key(s, name=f"alerts-{role}", role=role, **extra)
            out[role] = {"Authorization": f"Bearer {key}"}
    return out


def post(
    api: TestClient, hdr: dict[str, dict[str, str]], ext: str, utts: list[dict[str, Any]], **kw: Any
) -> dict[str, Any]:
    resp = api.post("/v1/conversations", json=transcript(ext, utts, **kw), headers=hdr["ingest"])
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def alerts(api: TestClient, hdr: dict[str, dict[str, str]], **params: Any) -> list[dict[str, Any]]:
    resp = api.get("/v1/alerts", params=params, headers=hdr["supervisor"])
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def settled(
    api: TestClient, hdr: dict[str, dict[str, str]], alert_id: str, timeout: float = 15.0
) -> dict[str, Any]:
    """The alert once no delivery is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        detail = api.get(f"/v1/alerts/{alert_id}", headers=hdr["supervisor"]).json()
        if all(d["status"] != "pending" for d in detail["deliveries"]) or time.monotonic() > deadline:
            return dict(detail)
        time.sleep(0.1)


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


class TestDelivery:
    def test_all_four_formats_signed_and_logged(
        self, api: TestClient, hdr: dict[str, dict[str, str]], rx: Receiver
    ) -> None:
        post(api, hdr, "fmt-1", ESCALATION, agent_id="a7")
        (alert,) = alerts(api, hdr)
        detail = settled(api, hdr, alert["id"])
        assert {d["target"]: (d["kind"], d["status"], d["attempts"]) for d in detail["deliveries"]} == {
            "ops-webhook": ("webhook", "delivered", 1),
            "wecom-qa": ("wecom", "delivered", 1),
            "dingtalk-qa": ("dingtalk", "delivered", 1),
            "feishu-qa": ("feishu", "delivered", 1),
        }
        for d in detail["deliveries"]:
            (attempt,) = d["log"]
            assert (attempt["status_code"], attempt["error"]) == (200, None)
            assert attempt["duration_ms"] >= 0
            assert attempt["at"]
        (hook,) = rx.of("webhook", "fmt-1")
        assert webhook_signature_ok(hook)
        assert hook.headers["X-Audit-Event"] == "alert"
        body = hook.json()
        assert (body["event"], body["alert"]["id"], body["alert"]["rule"]) == (
            "alert",
            alert["id"],
            "escalation_threat",
        )
        assert hook.headers["X-Audit-Delivery"] == next(
            d["id"] for d in detail["deliveries"] if d["target"] == "ops-webhook"
        )
        (wecom,) = rx.of("wecom", "fmt-1")
        assert wecom.query == {"key": ["wecom-key-1"]}
        doc = wecom.json()
        assert doc["msgtype"] == "markdown"
        assert "客户投诉升级威胁" in doc["markdown"]["content"]
        (ding,) = rx.of("dingtalk", "fmt-1")
        assert ding.query["access_token"] == ["ding-token-1"]
        assert dingtalk_signature_ok(ding)
        doc = ding.json()
        assert doc["msgtype"] == "markdown"
        assert doc["markdown"]["title"] == "【重大】客户投诉升级威胁"
        assert "12315" in doc["markdown"]["text"]
        (feishu,) = rx.of("feishu", "fmt-1")
        assert feishu_signature_ok(feishu)
        doc = feishu.json()
        assert doc["msg_type"] == "text"
        assert "客户投诉升级威胁" in doc["content"]["text"]

    def test_receiver_500_is_retried_with_backoff(
        self, api: TestClient, hdr: dict[str, dict[str, str]], rx: Receiver
    ) -> None:
        rx.plan["webhook", "retry-1"] = [(500, {}), (503, {})]
        post(api, hdr, "retry-1", ESCALATION)
        (alert,) = alerts(api, hdr)
        hook = next(d for d in settled(api, hdr, alert["id"])["deliveries"] if d["target"] == "ops-webhook")
        assert (hook["status"], hook["attempts"], hook["last_error"]) == ("delivered", 3, None)
        assert [(a["status_code"], a["error"]) for a in hook["log"]] == [
            (500, "HTTP 500"),
            (503, "HTTP 503"),
            (200, None),
        ]
        sent = rx.of("webhook", "retry-1")
        gaps = [b.at - a.at for a, b in zip(sent, sent[1:], strict=False)]
        assert gaps[0] >= 0.15
        assert gaps[1] >= 0.35

    def test_robot_error_code_is_retried_then_given_up(
        self, api: TestClient, hdr: dict[str, dict[str, str]], rx: Receiver
    ) -> None:
        rx.plan["dingtalk", "robot-1"] = [(200, {"errcode": 310000, "errmsg": "sign not match"})] * 3
        rx.plan["webhook", "robot-1"] = [(404, {})]
        post(api, hdr, "robot-1", ESCALATION)
        (alert,) = alerts(api, hdr)
        by_target = {d["target"]: d for d in settled(api, hdr, alert["id"])["deliveries"]}
        ding = by_target["dingtalk-qa"]
        assert (ding["status"], ding["attempts"]) == ("failed", 3)  # AUDIT_ALERT_MAX_ATTEMPTS
        assert ding["last_error"] == "robot errcode 310000: sign not match"
        # A 404 will not change by retrying: given up at once.
        hook = by_target["ops-webhook"]
        assert (hook["status"], hook["attempts"], hook["last_error"]) == ("failed", 1, "HTTP 404")
        assert by_target["wecom-qa"]["status"] == "delivered"


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
