"""Per-agent report through the API, appeals included: numbers checked against hand-built conversations.

The data and helpers are in tests/app/test_reports_support.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.auth.service import create_key
from app.db.session import session_scope
from app.main import create_app
from tests.app.conftest import make_settings
from tests.app.test_reports_support import (
    PERIOD,
    SEVERITIES,
    Auth,
    counted,
    ends_negative,
    get,
    seed,
)
from tests.factories.conversations import transcript, utterance


class TestAgentReport:
    def test_numbers_per_agent(self, client: TestClient, auth: Auth) -> None:
        convs = seed(client, auth)
        report = get(client, auth, f"/v1/reports/agents?{PERIOD}")
        assert report["period"] == {
            "since": "2026-11-19T16:00:00Z",
            "until": "2026-11-21T16:00:00Z",
            "timezone": "Asia/Shanghai",
        }
        rows = {a["agent_id"]: a for a in report["agents"]}
        assert list(rows) == ["a1", "a2"]  # a3's conversation is after the period
        # The angry phone customer is what the model must hear; the calm one is not negative.
        assert ends_negative(convs["a1-phone"]) is True
        assert ends_negative(convs["a2-calm"]) is False
        for agent, exts in (("a1", ["a1-chat", "a1-phone"]), ("a2", ["a2-major", "a2-calm"])):
            mine = [convs[e] for e in exts]
            row = rows[agent]
            scores = [c["score"] for c in mine]
            flagged = sum(c["flagged"] for c in mine)
            findings = [f for c in mine for f in counted(c)]
            negative = sum(ends_negative(c) for c in mine)
            assert row["conversations"] == 2
            assert row["mean_score"] == pytest.approx(round(sum(scores) / 2, 1))
            assert row["lowest_score"] == pytest.approx(min(scores))
            assert (row["flagged"], row["flag_rate"]) == (flagged, flagged / 2)
            assert row["findings_by_category"] == dict(
                sorted(Counter(f["category"] for f in findings).items())
            )
            severities = Counter(f["severity"] for f in findings)
            assert row["findings_by_severity"] == {s: severities.get(s, 0) for s in SEVERITIES}
            assert (row["customers_ending_negative"], row["negative_ending_rate"]) == (negative, negative / 2)
            assert (row["appeals_filed"], row["appeals_overturned"]) == (0, 0)
        assert rows["a2"]["flagged"] >= 1  # 你问我我问谁 is a 重大 禁语: the flag the review confirms
        assert (rows["a1"]["confirmed"], rows["a1"]["dismissed"]) == (0, 1)
        assert (rows["a2"]["confirmed"], rows["a2"]["dismissed"]) == (1, 0)

    def test_response_times_per_channel_against_the_standards(self, client: TestClient, auth: Auth) -> None:
        seed(client, auth)
        rows = {a["agent_id"]: a for a in get(client, auth, f"/v1/reports/agents?{PERIOD}")["agents"]}
        assert rows["a1"]["chat"] == {
            "conversations": 1,
            "standard_ms": 60000,
            "first_avg_ms": 3000.0,
            "average_avg_ms": 36500.0,  # replies of 3 s and 70 s
            "longest_ms": 70000,
            "first_over_standard": 0,
            "slow_replies": 1,
        }
        assert rows["a1"]["phone"] == {
            "conversations": 1,
            "standard_ms": 30000,
            "first_avg_ms": 35000.0,
            "average_avg_ms": 1000.0,
            "longest_ms": 1000,
            "first_over_standard": 1,
            "slow_replies": 0,
        }
        assert rows["a2"]["chat"] == {
            "conversations": 2,
            "standard_ms": 60000,
            "first_avg_ms": 5500.0,  # 1 s and 10 s
            "average_avg_ms": 5500.0,
            "longest_ms": 10000,
            "first_over_standard": 0,
            "slow_replies": 0,
        }
        assert rows["a2"]["phone"]["conversations"] == 0
        assert rows["a2"]["phone"]["first_avg_ms"] is None


class TestAppeals:
    def test_overturned_findings_stop_counting_and_appeals_arecounted(
        self, client: TestClient, auth: Auth
    ) -> None:
        convs = seed(client, auth)
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            _, agent_key = create_key(session, name="agent-a1", role="agent", agent_id="a1")
        agent = {"Authorization": f"Bearer {agent_key}"}
        chat = convs["a1-chat"]
        refusal = next(f for f in chat["findings"] if f["rule"] == "norm:refusal")
        slow = next(f for f in chat["findings"] if f["rule"] == "norm:slow_reply")
        decisions = {}
        for finding, decision in ((refusal, "overturn"), (slow, "uphold")):
            filed = client.post(
                f"/v1/conversations/{chat['id']}/appeals",
                json={"finding_id": finding["id"], "reason": "客户已确认无此需求"},
                headers=agent,
            )
            assert filed.status_code == 201, filed.text
            decisions[filed.json()["id"]] = decision
        before = {a["agent_id"]: a for a in get(client, auth, f"/v1/reports/agents?{PERIOD}")["agents"]}
        assert (before["a1"]["appeals_filed"], before["a1"]["appeals_overturned"]) == (2, 0)
        for appeal_id, decision in decisions.items():
            resp = client.post(
                f"/v1/appeals/{appeal_id}/decision", json={"decision": decision}, headers=auth["supervisor"]
            )
            assert resp.status_code == 200, resp.text

        # What the API now says about a1's conversations: the refusal overturned, the score recomputed.
        mine = [
            client.get(f"/v1/conversations/{convs[e]['id']}", headers=auth["auditor"]).json()
            for e in ("a1-chat", "a1-phone")
        ]
        row = {a["agent_id"]: a for a in get(client, auth, f"/v1/reports/agents?{PERIOD}")["agents"]}["a1"]
        assert (row["appeals_filed"], row["appeals_overturned"]) == (2, 1)
        findings = [f for c in mine for f in counted(c)]
        assert refusal["id"] not in {f["id"] for f in findings}
        assert row["findings_by_category"] == dict(sorted(Counter(f["category"] for f in findings).items()))
        assert (
            row["findings_by_category"].get("refusal", 0)
            == before["a1"]["findings_by_category"]["refusal"] - 1
        )
        assert row["mean_score"] == pytest.approx(round(sum(c["score"] for c in mine) / 2, 1))

        rules = {r["name"]: r for r in get(client, auth, f"/v1/reports/rules?{PERIOD}")["rules"]}
        assert (rules["norm:refusal"]["overturned"], rules["norm:slow_reply"]["overturned"]) == (1, 0)
        assert rules["norm:slow_reply"]["hits"] == 1


class TestNegativeEndingsWithoutTheEmotionModel:
    def test_cue_words_stand_in_for_the_model(
        self,
        client: TestClient,  # noqa: ARG002 (its teardown empties the shared database this app writes to)
        backend_url: str,
        tmp_path: Path,
    ) -> None:
        # rules.yaml negative_turn: where no emotion was predicted, the last customer turn's cue words decide.
        app = create_app(make_settings(tmp_path, backend_url, emotion_enabled=False))
        endings = {
            "cue-last": ["快递怎么还没到", "气死我了，太过分了"],  # 气死, 太过分: negative
            "calm-last": ["东西太差了", "好的，谢谢"],  # a cue earlier, not in the last customer turn
            "no-cue": ["请问几点发货", "好的"],
        }
        with TestClient(app) as other:
            with session_scope(app.state.session_factory) as session:
                _, ingest = create_key(session, name="cue-ingest", role="ingest")
                _, reader = create_key(session, name="cue-auditor", role="auditor")
            for ext, (first, last) in endings.items():
                payload = transcript(
                    ext,
                    [
                        utterance("customer", first),
                        utterance("agent", "您好，马上为您处理"),
                        utterance("customer", last),
                    ],
                    agent_id="cue-agent",
                    started_at="2026-11-20T10:00:00+08:00",
                )
                resp = other.post(
                    "/v1/conversations", json=payload, headers={"Authorization": f"Bearer {ingest}"}
                )
                assert resp.status_code == 201, resp.text
                assert {u["emotion"] for u in resp.json()["utterances"]} == {None}
            resp = other.get(f"/v1/reports/agents?{PERIOD}", headers={"Authorization": f"Bearer {reader}"})
        assert resp.status_code == 200, resp.text
        (row,) = resp.json()["agents"]
        assert (row["agent_id"], row["conversations"]) == ("cue-agent", 3)
        assert (row["customers_ending_negative"], row["negative_ending_rate"]) == (1, round(1 / 3, 4))
