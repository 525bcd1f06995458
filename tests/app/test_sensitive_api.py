"""Evasion-proof sensitive words through the API: each evasion kind caught with its variant named, regex rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.factories.conversations import transcript, utterance

EVASIONS = [
    utterance("customer", "你是shabi吧"),
    utterance("customer", "客服他MD差劲"),
    utterance("customer", "你个煞笔"),
    utterance("customer", "再拖我就打一23一5"),
    utterance("customer", "你们再不退款，我就投诉"),
    utterance("customer", "你女马的"),
    utterance("customer", "what a sh1t service"),
    utterance("agent", "愛買不買"),
]


def _words(body: dict[str, Any]) -> list[tuple[int, str, str, str | None]]:
    """(utterance, term, stored text the offsets point at, detail) of every sensitive-word finding."""
    texts = {u["index"]: u["text"] for u in body["utterances"]}
    return sorted(
        (f["utterance_index"], f["term"], texts[f["utterance_index"]][f["start"] : f["end"]], f["detail"])
        for f in body["findings"]
        if f["kind"] == "sensitive_word"
    )


class TestEvasionKinds:
    def test_each_kind_caught_with_its_variant(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        resp = client.post(
            "/v1/conversations", json=transcript("evasion-1", EVASIONS), headers=auth["ingest"]
        )
        assert resp.status_code == 201
        body = resp.json()
        assert _words(body) == [
            (0, "傻逼", "shabi", "variant=pinyin"),
            (1, "他妈的", "他MD", "variant=initials"),
            (2, "傻逼", "煞笔", "variant=homophone"),
            (3, "12315", "一23一5", "variant=numeral"),
            (4, "再不…就投诉", "再不退款，我就投诉", "variant=regex"),
            (4, "投诉", "投诉", "variant=exact"),
            (5, "你妈逼", "你女马的", "variant=split"),
            (6, "fuck", "sh1t", "variant=lookalike"),
            (7, "爱买不买", "愛買不買", "variant=exact"),
        ]
        assert body["flagged"] is True
        # Read back: the variant is stored with the finding.
        again = client.get(f"/v1/conversations/{body['id']}", headers=auth["auditor"]).json()
        assert _words(again) == _words(body)

    def test_search_by_term_finds_an_evaded_spelling(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        payload = transcript("evasion-2", [utterance("customer", "你个煞笔客服")])
        assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201
        found = client.get("/v1/conversations?term=傻逼&category=辱骂", headers=auth["auditor"])
        assert found.status_code == 200
        assert [item["external_id"] for item in found.json()["items"]] == ["evasion-2"]

    def test_ordinary_chat_stays_clean(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        chat = [
            utterance("customer", "出生日期填错了，能改吗"),
            utterance("agent", "好哒，麻烦您提供一下订单号"),
            utterance("customer", "BL-5B电池有货吗，没啥差别吧"),
        ]
        resp = client.post("/v1/conversations", json=transcript("evasion-3", chat), headers=auth["ingest"])
        assert resp.status_code == 201
        assert _words(resp.json()) == []


def _add_rule(lexicon_dir: Path, line: str) -> None:
    path = lexicon_dir / "sensitive" / "service_forbidden.yaml"
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")


class TestRegexRulesOnReload:
    def test_pathological_rule_refused_then_a_good_one_applies(
        self, admin_client: tuple[TestClient, dict[str, str]], lexicon_dir: Path
    ) -> None:
        client, headers = admin_client
        version = client.get("/v1/admin/health", headers=headers).json()["lexicon_version"]
        original = (lexicon_dir / "sensitive" / "service_forbidden.yaml").read_text(encoding="utf-8")

        _add_rule(
            lexicon_dir, "  - {term: 回溯, regex: '(不退)\\1'}\n"
        )  # a back-reference needs backtracking
        resp = client.post("/v1/admin/lexicons/reload", headers=headers)
        assert resp.status_code == 422
        error = resp.json()["error"]
        assert error["code"] == "invalid_lexicon"
        assert "service_forbidden.yaml: '回溯': regex '(不退)\\\\1' refused by RE2" in error["message"]
        # The old lexicon stays in force.
        assert client.get("/v1/admin/health", headers=headers).json()["lexicon_version"] == version

        (lexicon_dir / "sensitive" / "service_forbidden.yaml").write_text(original, encoding="utf-8")
        _add_rule(
            lexicon_dir, "  - {term: 拒绝退款, severity: 重要, regex: '(不能|没法|无法)(给您)?(退款|退货)'}\n"
        )
        resp = client.post("/v1/admin/lexicons/reload", headers=headers)
        assert resp.status_code == 200
        payload = transcript(
            "regex-1", [utterance("agent", "这个 无法 给您退款的哦"), utterance("customer", "无法退款？")]
        )
        body = client.post("/v1/conversations", json=payload, headers=headers).json()
        assert _words(body) == [(0, "拒绝退款", "无法 给您退款", "variant=regex")]  # agent scope only
