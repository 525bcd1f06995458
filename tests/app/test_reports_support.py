"""Shared data and helpers of the report tests (no tests here): hand-built conversations and their seeding.

The conversations are posted through the API and audited by the real pipeline; what a report must say is
worked out from what the API returned for each conversation (its score, findings, keywords, emotions) and
from the times and reviews the test itself chose.
"""

from __future__ import annotations

from typing import Any

import yaml
from fastapi.testclient import TestClient

from app.settings import REPO_ROOT
from tests.factories.conversations import transcript, utterance

PERIOD = "since=2026-11-20&until=2026-11-22"  # local (Asia/Shanghai) days 20 and 21 November
NEGATIVE = {"angry", "sad", "anxious"}  # rules.yaml negative_turn.emotions (min_confidence 0.6)
CUES: tuple[str, ...] = tuple(
    yaml.safe_load((REPO_ROOT / "lexicons" / "rules.yaml").read_text(encoding="utf-8"))["negative_turn"][
        "cues"
    ]
)
SEVERITIES = ("none", "general", "important", "major")

Auth = dict[str, dict[str, str]]


def payloads() -> list[dict[str, Any]]:
    return [
        # a1, chat, 20 Nov: first response 3 s; the second reply takes 70 s (over the 60 s chat standard).
        transcript(
            "a1-chat",
            [
                utterance("customer", "你好，我的快递三天了还没到", 0, 2000),
                utterance("agent", "您好，请稍等，我帮您查一下快递", 5000, 7000),
                utterance("customer", "好的，快递单号发你了", 8000, 9000),
                utterance("agent", "不知道", 79000, 80000),
            ],
            agent_id="a1",
            started_at="2026-11-20T10:00:00+08:00",
        ),
        # a1, phone, 20 Nov 23:30 local: first words 35 s after connection (phone standard 30 s); the customer
        # ends angry.
        transcript(
            "a1-phone",
            [
                utterance("agent", "您好，很高兴为您服务", 35000, 37000),
                utterance("customer", "你们太垃圾了，气死我了，我要投诉！", 38000, 41000),
                utterance("agent", "非常抱歉给您带来不便，请问还有什么可以帮您", 42000, 45000),
            ],
            agent_id="a1",
            channel="phone",
            started_at="2026-11-20T23:30:00+08:00",
        ),
        # a2, chat, 21 Nov 00:30 local = 20 Nov 16:30 UTC: counted on the 21st only if days are local.
        transcript(
            "a2-major",
            [utterance("customer", "在吗", 0, 1000), utterance("agent", "你问我我问谁", 2000, 3000)],
            agent_id="a2",
            started_at="2026-11-21T00:30:00+08:00",
        ),
        transcript(
            "a2-calm",
            [
                utterance("customer", "请问退款什么时候到账", 0, 1000),
                utterance("agent", "您好，退款今天下午到账，请问还有什么可以帮您", 11000, 12000),
                utterance("customer", "谢谢，没有了", 13000, 14000),
            ],
            agent_id="a2",
            started_at="2026-11-21T12:00:00+08:00",
        ),
        # The previous period (18–19 Nov), for rising keywords, and a day after the period: neither counted.
        transcript(
            "a1-before",
            [
                utterance("customer", "退款还没到账", 0, 1000),
                utterance("agent", "您好，马上为您查询", 3000, 4000),
            ],
            agent_id="a1",
            started_at="2026-11-19T12:00:00+08:00",
        ),
        transcript(
            "a3-after",
            [utterance("customer", "快递到了吗", 0, 1000), utterance("agent", "您好，在路上了", 3000, 4000)],
            agent_id="a3",
            started_at="2026-11-22T00:00:00+08:00",
        ),
    ]


def seed(client: TestClient, auth: Auth) -> dict[str, dict[str, Any]]:
    """Post the conversations; review two (a2-major confirmed, a1-chat dismissed); external_id -> read-back."""
    out = {}
    for payload in payloads():
        resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
        assert resp.status_code == 201, resp.text
        out[payload["external_id"]] = resp.json()
    for ext, status in (("a2-major", "reviewed"), ("a1-chat", "dismissed")):
        resp = client.post(
            f"/v1/conversations/{out[ext]['id']}/review", json={"status": status}, headers=auth["supervisor"]
        )
        assert resp.status_code == 200
        out[ext]["review_status"] = status
    return out


def counted(conv: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in conv["findings"] if f["kind"] != "pii" and f["overturned_at"] is None]


def ends_negative(conv: dict[str, Any]) -> bool:
    """rules.yaml negative_turn for the last customer turn: its emotion, else (no model ran) its cue words."""
    last = [u for u in conv["utterances"] if u["speaker"] == "customer"][-1]
    if last["emotion"] is None:
        return any(cue in last["text"] for cue in CUES)
    return last["emotion"] in NEGATIVE and last["emotion_confidence"] >= 0.6


def get(client: TestClient, auth: Auth, path: str) -> dict[str, Any]:
    resp = client.get(path, headers=auth["supervisor"])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body
