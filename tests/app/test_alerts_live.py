"""Alerts against a real `audit serve` subprocess: the four formats arrive signed at a real listener on
127.0.0.1, a receiver's 500 is retried, a re-analysis does not alert twice, the live feed (SSE) shows the alert."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.app.test_alerts_support import (
    Receiver,
    dingtalk_signature_ok,
    feishu_signature_ok,
    receiver,
    targets,
    webhook_signature_ok,
)
from tests.factories.conversations import transcript, utterance
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow  # a real `audit serve` with its models

ESCALATION = [utterance("customer", "我要打12315投诉你们"), utterance("agent", "您好，请稍等")]
KINDS = ("webhook", "wecom", "dingtalk", "feishu")


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, rx: Receiver) -> Iterator[LiveServer]:
    """`audit serve` (SQLite) whose alert targets are the listener; fast retries."""
    env = {
        "AUDIT_ALERT_TARGETS": json.dumps(targets(rx)),
        "AUDIT_OUTBOUND_ALLOWLIST": "127.0.0.1",
        "AUDIT_ALLOW_HTTP_CALLBACKS": "true",
        "AUDIT_ALERT_RETRY_BASE_SECONDS": "0.2",
        "AUDIT_ALERT_MAX_ATTEMPTS": "3",
        "AUDIT_START_WORKER": "false",
    }
    live = LiveServer(data_dir=tmp_path_factory.mktemp("alerts-live"), env=env)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> dict[str, dict[str, str]]:
    return {r: {"Authorization": f"Bearer {server.create_key(r)}"} for r in ("ingest", "supervisor", "admin")}


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def post(server: LiveServer, keys: dict[str, dict[str, str]], ext: str, agent: str) -> dict[str, Any]:
    resp = httpx.post(
        f"{server.url}/v1/conversations",
        json=transcript(ext, ESCALATION, agent_id=agent),
        headers=keys["ingest"],
        timeout=60,
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def alerts_of(server: LiveServer, keys: dict[str, dict[str, str]], ext: str) -> list[dict[str, Any]]:
    page = httpx.get(f"{server.url}/v1/alerts", params={"limit": 200}, headers=keys["supervisor"]).json()
    return [a for a in page["items"] if a["external_id"] == ext]


class TestLiveServer:
    def test_four_formats_signed_and_live_feed(
        self, server: LiveServer, keys: dict[str, dict[str, str]], rx: Receiver
    ) -> None:
        events: list[str] = []
        opened = threading.Event()

        def follow() -> None:
            headers = {**keys["supervisor"], "Accept": "text/event-stream"}
            with httpx.stream("GET", f"{server.url}/v1/alerts/stream", headers=headers, timeout=30) as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                for line in resp.iter_lines():
                    opened.set()
                    events.append(line)
                    if line.startswith("data: ") and "event: alert" in events[-2:]:
                        return  # the alert event's data

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert opened.wait(10)
        conv = post(server, keys, "live-1", "l1")
        (alert,) = alerts_of(server, keys, "live-1")
        assert (alert["rule"], alert["conversation_id"]) == ("escalation_threat", conv["id"])
        received = {k: wait_for(lambda k=k: rx.of(k, "live-1")) for k in KINDS}
        assert [len(v) for v in received.values()] == [1, 1, 1, 1]
        assert webhook_signature_ok(received["webhook"][0])
        assert dingtalk_signature_ok(received["dingtalk"][0])
        assert feishu_signature_ok(received["feishu"][0])
        assert received["wecom"][0].json()["msgtype"] == "markdown"
        reader.join(10)
        assert f"id: {alert['id']}" in events
        data = next(e for e in events if e.startswith("data: ") and alert["id"] in e)
        assert json.loads(data[6:])["rule"] == "escalation_threat"

    def test_receiver_500_retried_and_reanalysis_does_not_alert_twice(
        self, server: LiveServer, keys: dict[str, dict[str, str]], rx: Receiver
    ) -> None:
        rx.plan["webhook", "live-2"] = [(500, {})]
        conv = post(server, keys, "live-2", "l2")
        (alert,) = alerts_of(server, keys, "live-2")

        def delivered() -> dict[str, Any] | None:
            detail = httpx.get(f"{server.url}/v1/alerts/{alert['id']}", headers=keys["supervisor"]).json()
            hook = next(d for d in detail["deliveries"] if d["target"] == "ops-webhook")
            return dict(hook) if hook["status"] == "delivered" else None

        hook = wait_for(delivered)
        assert [a["status_code"] for a in hook["log"]] == [500, 200]
        resp = httpx.post(
            f"{server.url}/v1/conversations/{conv['id']}/reanalyze", headers=keys["admin"], timeout=60
        )
        assert resp.status_code == 200
        time.sleep(1.5)
        assert [a["id"] for a in alerts_of(server, keys, "live-2")] == [alert["id"]]
        assert [len(rx.of(k, "live-2")) for k in KINDS] == [2, 1, 1, 1]  # the webhook's 500, then its 200
