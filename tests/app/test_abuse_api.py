"""Abuse through the API: an insult with no listed word is found and flagged, complaints are left alone."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories.conversations import transcript, utterance

GREETING = utterance("agent", "您好，很高兴为您服务")
CLOSING = utterance("agent", "请问还有什么可以帮您，祝您生活愉快")
# No word of the 辱骂 lexicon in it: only the model can see the insult.
AGENT_INSULT = "这么简单都看不懂，你是没长脑子吗"
CUSTOMER_INSULT = "你这个没脑子的东西，听不懂人话"
COMPLAINTS = ["你们这服务太差了", "垃圾快递三天还没到", "我要投诉", "再不退款我就去12315"]


def _post(client: TestClient, auth: dict[str, dict[str, str]], ext: str, utts: list[dict[str, Any]]) -> Any:
    resp = client.post("/v1/conversations", json=transcript(ext, utts), headers=auth["ingest"])
    assert resp.status_code == 201, resp.text
    return resp.json()


def _abuse(body: Any) -> list[tuple[int, str, str]]:
    return [
        (f["utterance_index"], f["category"], f["severity"]) for f in body["findings"] if f["kind"] == "abuse"
    ]


class TestAgentAbuse:
    def test_insult_without_listed_word_is_major_and_flagged(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        utts = [GREETING, utterance("customer", "怎么申请退货"), utterance("agent", AGENT_INSULT), CLOSING]
        body = _post(client, auth, "abuse-agent", utts)
        assert [
            f for f in body["findings"] if f["kind"] == "sensitive_word"
        ] == []  # the lexicon sees nothing
        assert _abuse(body) == [(2, "辱骂(模型)", "major")]
        finding = next(f for f in body["findings"] if f["kind"] == "abuse")
        assert finding["rule"] == "model:abuse"
        assert finding["detail"].startswith("p=0.") or finding["detail"].startswith("p=1.")
        assert (body["severity"], body["flagged"]) == ("major", True)
        lines = [i for i in body["score_breakdown"]["items"] if i["rule"] == "model:abuse"]
        assert [(i["dimension"], i["points"]) for i in lines] == [("sensitive", -15.0)]
        assert body["metrics"]["agent_care"] == 0
        found = client.get("/v1/conversations?kind=abuse", headers=auth["auditor"])
        assert found.status_code == 200, found.text
        assert [i["id"] for i in found.json()["items"]] == [body["id"]]


class TestCustomerAbuse:
    def test_recorded_for_agent_care_without_costing_the_agent(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        polite = [
            GREETING,
            utterance("customer", "怎么申请退货"),
            utterance("agent", "您好，在订单页点申请售后即可"),
            CLOSING,
        ]
        baseline = _post(client, auth, "abuse-none", polite)
        utts = [*polite[:3], utterance("customer", CUSTOMER_INSULT), CLOSING]
        body = _post(client, auth, "abuse-customer", utts)
        assert _abuse(body) == [(3, "辱骂(模型)", "important")]
        assert body["metrics"]["agent_care"] == 1
        assert body["flagged"] is True
        # The insult costs the agent nothing: no abuse or sensitive-word line; what the agent loses here is
        # the service norms' own verdict on an angry customer turn (no empathy shown), as without the model.
        items = body["score_breakdown"]["items"]
        assert [i for i in items if i["rule"] == "model:abuse" or i["dimension"] == "sensitive"] == []
        assert baseline["score"] == 100.0


class TestComplaints:
    def test_complaints_are_not_abuse(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        utts = [GREETING]
        for text in COMPLAINTS:
            utts += [utterance("customer", text), utterance("agent", "非常抱歉，我马上为您处理")]
        body = _post(client, auth, "abuse-complaints", [*utts, CLOSING])
        assert _abuse(body) == []
        assert body["metrics"]["agent_care"] == 0
