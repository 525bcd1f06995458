"""Alert deliveries to a real receiver on 127.0.0.1 in all four formats, signed, with retries.

Fixtures and helpers: tests/app/test_alerts_fixtures.py.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.app import test_alerts_fixtures as fixtures
from tests.app.test_alerts_fixtures import ESCALATION, alerts, post, settled
from tests.app.test_alerts_support import (
    Receiver,
    dingtalk_signature_ok,
    feishu_signature_ok,
    webhook_signature_ok,
)

# The shared fixtures, found by pytest under these names (each module gets its own module-scoped ones).
rx, alert_lexicons, app, api, hdr = (
    fixtures.rx,
    fixtures.alert_lexicons,
    fixtures.app,
    fixtures.api,
    fixtures.hdr,
)


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
