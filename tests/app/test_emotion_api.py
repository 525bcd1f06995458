"""Emotion through the API: per-utterance labels, the customer's trajectory, emotion search and rules."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories.conversations import jddc_transcript, transcript, utterance

ESCALATING = [
    utterance("customer", "你好，请问我的快递到哪了"),
    utterance("agent", "您好，我帮您查一下"),
    utterance("customer", "你们这是什么态度，一个星期了还不退款，太气人了！"),
    utterance("agent", "系统显示还在处理"),
    utterance("customer", "你们这是什么破服务，气死我了！"),
]
CALMED = [
    utterance("customer", "你们这是什么破服务，气死我了！"),
    utterance("agent", "非常抱歉给您带来不便，我理解您的感受，马上为您处理"),
    utterance("customer", "好的"),
    utterance("agent", "已经为您退款了，请问还有什么可以帮您"),
    utterance("customer", "太谢谢你了，问题解决了，非常满意"),
]


def _post(client: TestClient, auth: dict[str, dict[str, str]], ext: str, utts: list[dict[str, Any]]) -> Any:
    resp = client.post("/v1/conversations", json=transcript(ext, utts), headers=auth["ingest"])
    assert resp.status_code == 201, resp.text
    return resp.json()


def _without_ids(findings: list[dict[str, object]]) -> list[dict[str, object]]:
    """Findings as audited: each stored row has its own id, the same audit gives the same rest."""
    return [{k: v for k, v in f.items() if k != "id"} for f in findings]


class TestEmotion:
    def test_escalating_customer_is_flagged(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        body = _post(client, auth, "emo-up", ESCALATING)
        assert [u["emotion"] for u in body["utterances"]] == [
            "neutral",
            "neutral",
            "angry",
            "neutral",
            "angry",
        ]
        last = body["utterances"][4]
        assert last["emotion_confidence"] > 0.9
        assert set(last["emotion_probs"]) == {"neutral", "happy", "angry", "sad", "anxious", "surprised"}
        assert abs(sum(last["emotion_probs"].values()) - 1.0) < 1e-3
        emo = body["emotion"]
        assert (emo["dominant_negative"], emo["trajectory"], emo["ends_angry"]) == (
            "angry",
            "escalated",
            True,
        )
        assert emo["peak_utterance_index"] == 4
        assert (body["customer_emotion"], body["emotion_trajectory"]) == ("angry", "escalated")
        rules = {f["rule"]: f for f in body["findings"] if f["kind"] == "service_norm"}
        assert rules["norm:customer_ends_angry"]["utterance_index"] == 4
        assert rules["norm:customer_ends_angry"]["severity"] == "important"
        assert rules["norm:empathy"]["utterance_index"] == 3  # the agent's answer to the angry turn
        assert body["flagged"] is True

    def test_calmed_customer_is_not_flagged(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        body = _post(client, auth, "emo-down", CALMED)
        assert [u["emotion"] for u in body["utterances"]][0] == "angry"
        assert body["utterances"][4]["emotion"] == "happy"
        assert (body["emotion"]["trajectory"], body["emotion"]["ends_angry"]) == ("calmed", False)
        assert [f["rule"] for f in body["findings"]] == ["norm:empathy_shown"]
        assert (body["flagged"], body["score"]) == (False, 100.0)

    def test_search_by_emotion(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        up = _post(client, auth, "emo-up", ESCALATING)["id"]
        down = _post(client, auth, "emo-down", CALMED)["id"]
        neutral = _post(
            client,
            auth,
            "emo-none",
            [utterance("customer", "我想修改一下收货地址"), utterance("agent", "您好，好的")],
        )["id"]

        def ids(query: str) -> list[str]:
            resp = client.get(f"/v1/conversations?{query}", headers=auth["auditor"])
            assert resp.status_code == 200, resp.text
            return sorted(i["id"] for i in resp.json()["items"])

        assert ids("emotion=angry&speaker=customer&min_confidence=0.8") == sorted([up, down])
        assert ids("emotion=angry&speaker=agent") == []
        assert ids("emotion=happy&speaker=customer") == [down]
        assert ids("trajectory=escalated") == [up]
        assert ids("emotion=angry&trajectory=calmed&flagged=false") == [down]
        # The calmed customer's plain "好的" is neutral too.
        assert ids("emotion=neutral&speaker=customer&agent_id=agent-007") == sorted([neutral, up, down])


class TestBatchedEmotion:
    """A batch is audited with one emotion call across its conversations; results must not mix them up."""

    def test_batch_gives_each_conversation_its_own_emotions(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conversations = [ESCALATING, CALMED, jddc_transcript(5)["utterances"]]
        singles = [_post(client, auth, f"one-{i}", utts) for i, utts in enumerate(conversations)]
        items = [transcript(f"many-{i}", utts) for i, utts in enumerate(conversations)]
        items.insert(1, transcript("many-bad", [utterance("robot", "你好")]))
        resp = client.post("/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"])
        assert resp.status_code == 200, resp.text
        results = resp.json()["results"]
        assert [r["status"] for r in results] == ["created", "error", "created", "created"]
        assert [r["flagged"] for r in results if r["status"] == "created"] == [s["flagged"] for s in singles]
        created = [r for r in results if r["status"] == "created"]
        for single, result in zip(singles, created, strict=True):
            got = client.get(f"/v1/conversations/{result['id']}", headers=auth["auditor"]).json()
            assert [u["emotion"] for u in got["utterances"]] == [u["emotion"] for u in single["utterances"]]
            for mine, theirs in zip(got["utterances"], single["utterances"], strict=True):
                if theirs["emotion_confidence"] is not None:
                    assert abs(mine["emotion_confidence"] - theirs["emotion_confidence"]) < 1e-3
            assert got["emotion"] == pytest.approx(single["emotion"], abs=1e-3)  # padding: ~1e-9 apart
            assert _without_ids(got["findings"]) == _without_ids(single["findings"])
        assert singles[0]["emotion"]["trajectory"] == "escalated"
        assert singles[1]["emotion"]["trajectory"] == "calmed"

    def test_a_failing_conversation_does_not_fail_the_rest_of_its_batch(
        self, client: TestClient, auth: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        pipeline = client.app.state.runtime.pipeline  # type: ignore[attr-defined]
        model = pipeline.emotion
        assert model is not None

        def predict(texts: list[str]) -> list[Any]:
            # Stands in for a model crash on one input; everything else goes to the real model.
            if any("毒丸" in t for t in texts):
                raise RuntimeError("model crashed on this input")
            return model.predict(texts)

        monkeypatch.setattr(pipeline, "emotion", SimpleNamespace(version=model.version, predict=predict))
        items = [
            transcript("fine-1", ESCALATING),
            transcript("poison", [utterance("customer", "这是一颗毒丸")]),
            transcript("fine-2", CALMED),
        ]
        resp = client.post("/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"])
        assert resp.status_code == 200, resp.text
        assert resp.json()["created"] == 3
        ids = [r["id"] for r in resp.json()["results"]]
        bodies = [client.get(f"/v1/conversations/{i}", headers=auth["auditor"]).json() for i in ids]
        assert [b["status"] for b in bodies] == ["analysed", "failed", "analysed"]
        assert bodies[1]["analysis_error"] == "RuntimeError: model crashed on this input"
        assert bodies[1]["utterances"][0]["text"] == "这是一颗毒丸"  # stored, ready for re-analysis
        assert bodies[0]["emotion"]["trajectory"] == "escalated"
        assert bodies[2]["emotion"]["trajectory"] == "calmed"
