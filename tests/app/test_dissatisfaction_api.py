"""Conversation-level dissatisfaction (不满意度, issue 11) through the API, with the real models.

Two real STC-3 dialogues from the held-out 20 % (never trained or tuned on): a customer annotators rated
clearly dissatisfied, and one whose problem was resolved and who thanked the agent.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient

from models.dissatisfaction.data import Dialogue, is_heldout, load_stc3
from tests.factories.conversations import transcript, utterance

DISSATISFIED_ID = "3805027162736563"  # mean S -1.05: charges, cut-off, "都几天了？仍然没有答复"
RESOLVED_ID = "3977930185300712"  # mean S 1.42: update fixed, "好了谢谢"


@cache
def _stc3() -> dict[str, Dialogue]:
    return {d.id: d for d in load_stc3()}


def stc3_transcript(dialogue_id: str, *, external_id: str | None = None) -> dict[str, Any]:
    """A held-out STC-3 dialogue as a chat transcript, one utterance per STC-3 utterance."""
    d = _stc3()[dialogue_id]
    assert is_heldout(d.id), "tests must use held-out dialogues only"
    utts = [utterance(speaker, text) for speaker, text in d.utterances]
    return transcript(external_id or f"stc3-{d.id}", utts)


def _post(client: TestClient, auth: dict[str, dict[str, str]], payload: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _ids(client: TestClient, auth: dict[str, dict[str, str]], **params: Any) -> list[str]:
    resp = client.get("/v1/conversations", params=params, headers=auth["supervisor"])
    assert resp.status_code == 200, resp.text
    return [item["external_id"] for item in resp.json()["items"]]


class TestScore:
    def test_dissatisfied_dialogue_scores_above_the_resolved_one(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        bad = _post(client, auth, stc3_transcript(DISSATISFIED_ID))
        good = _post(client, auth, stc3_transcript(RESOLVED_ID))
        assert (_stc3()[DISSATISFIED_ID].label, _stc3()[RESOLVED_ID].label) == (1, 0)
        assert bad["dissatisfaction"] > 0.7 > 0.3 > good["dissatisfaction"]
        # The driving turns are customer utterances, strongest first.
        turns = bad["dissatisfaction_turns"]
        assert 1 <= len(turns) <= 3
        speakers = {u["index"]: u["speaker"] for u in bad["utterances"]}
        assert {speakers[t["index"]] for t in turns} == {"customer"}
        assert [t["weight"] for t in turns] == sorted((t["weight"] for t in turns), reverse=True)
        # Stored: the read of the conversation shows the same.
        read = client.get(f"/v1/conversations/{bad['id']}", headers=auth["auditor"]).json()
        assert (read["dissatisfaction"], read["dissatisfaction_turns"]) == (
            bad["dissatisfaction"],
            bad["dissatisfaction_turns"],
        )

    def test_agent_only_conversation_has_none(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        body = _post(client, auth, transcript("agent-only", [utterance("agent", "您好，很高兴为您服务")]))
        assert (body["dissatisfaction"], body["dissatisfaction_turns"]) == (None, [])


class TestSearchAndSort:
    def test_dissatisfaction_min_and_sort(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        _post(client, auth, stc3_transcript(RESOLVED_ID))
        _post(client, auth, stc3_transcript(DISSATISFIED_ID))
        _post(client, auth, transcript("agent-only", [utterance("agent", "您好")]))
        assert _ids(client, auth, dissatisfaction_min=0.5) == [f"stc3-{DISSATISFIED_ID}"]
        assert _ids(client, auth, dissatisfaction_min=0.0, sort="dissatisfaction") == [
            f"stc3-{DISSATISFIED_ID}",
            f"stc3-{RESOLVED_ID}",
        ]
        # Keyset pages over the dissatisfaction order; the unscored conversation has no place in it.
        first = client.get(
            "/v1/conversations?sort=dissatisfaction&limit=1", headers=auth["supervisor"]
        ).json()
        assert [i["external_id"] for i in first["items"]] == [f"stc3-{DISSATISFIED_ID}"]
        assert first["total"] == 2
        second = client.get(
            "/v1/conversations",
            params={"sort": "dissatisfaction", "limit": 1, "cursor": first["next_cursor"]},
            headers=auth["supervisor"],
        ).json()
        assert ([i["external_id"] for i in second["items"]], second["next_cursor"]) == (
            [f"stc3-{RESOLVED_ID}"],
            None,
        )
        # The default order is untouched, and lists every conversation.
        assert len(_ids(client, auth)) == 3

    def test_bad_input(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        for params in ({"dissatisfaction_min": 1.5}, {"dissatisfaction_min": "x"}, {"sort": "score"}):
            resp = client.get("/v1/conversations", params=params, headers=auth["supervisor"])
            assert resp.status_code == 422, (params, resp.text)
        _post(client, auth, stc3_transcript(RESOLVED_ID))
        _post(client, auth, stc3_transcript(DISSATISFIED_ID))
        severity_cursor = client.get("/v1/conversations?limit=1", headers=auth["supervisor"]).json()[
            "next_cursor"
        ]
        resp = client.get(
            "/v1/conversations",
            params={"sort": "dissatisfaction", "cursor": severity_cursor},
            headers=auth["supervisor"],
        )
        assert resp.status_code == 400, resp.text


class TestAlertRule:
    def test_customer_dissatisfied_alert_for_the_dissatisfied_one_only(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        bad = _post(client, auth, stc3_transcript(DISSATISFIED_ID))
        _post(client, auth, stc3_transcript(RESOLVED_ID))
        resp = client.get("/v1/alerts", headers=auth["supervisor"])
        assert resp.status_code == 200, resp.text
        fired = [
            (a["rule"], a["external_id"])
            for a in resp.json()["items"]
            if a["rule"] == "customer_dissatisfied"
        ]
        assert fired == [("customer_dissatisfied", bad["external_id"])]
        alert = next(a for a in resp.json()["items"] if a["rule"] == "customer_dissatisfied")
        assert f"不满意度 {bad['dissatisfaction']:.2f}（阈值 0.85）" in alert["summary"]


def _set_flag(lexicon_dir: Path, value: float | None) -> None:
    path = lexicon_dir / "rules.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if value is None:
        doc["flag"].pop("dissatisfaction_min", None)
    else:
        doc["flag"]["dissatisfaction_min"] = value
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


class TestRulesThreshold:
    def test_flag_threshold_flags_and_can_be_switched_off(
        self, admin_client: tuple[TestClient, dict[str, str]], lexicon_dir: Path
    ) -> None:
        client, admin = admin_client
        _set_flag(lexicon_dir, None)
        assert client.post("/v1/admin/lexicons/reload", headers=admin).status_code == 200
        off = client.post(
            "/v1/conversations", json=stc3_transcript(DISSATISFIED_ID, external_id="off"), headers=admin
        )
        assert off.status_code == 201, off.text
        assert off.json()["flagged"] is False  # nothing else in this dialogue flags it
        _set_flag(lexicon_dir, 0.5)
        assert client.post("/v1/admin/lexicons/reload", headers=admin).status_code == 200
        on = client.post(
            "/v1/conversations", json=stc3_transcript(DISSATISFIED_ID, external_id="on"), headers=admin
        )
        good = client.post("/v1/conversations", json=stc3_transcript(RESOLVED_ID), headers=admin)
        assert (on.json()["flagged"], good.json()["flagged"]) == (True, False)
        assert on.json()["severity"] == off.json()["severity"]  # flagged by the threshold alone

    def test_bad_threshold_is_refused_and_rules_stay(
        self, admin_client: tuple[TestClient, dict[str, str]], lexicon_dir: Path
    ) -> None:
        client, admin = admin_client
        _set_flag(lexicon_dir, 1.5)
        resp = client.post("/v1/admin/lexicons/reload", headers=admin)
        assert resp.status_code == 422, resp.text
        assert "flag.dissatisfaction_min" in resp.text
