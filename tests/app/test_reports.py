"""Per-agent, daily and per-rule reports through the API: numbers checked against hand-built conversations.

The conversations are posted through the API and audited by the real pipeline; what the report must say is
worked out from what the API returned for each conversation (its score, findings, keywords, emotions) and
from the times and reviews the test itself chose.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

from app.auth.service import create_key
from app.db.session import session_scope
from app.main import create_app
from app.schemas_common import configure_timezone
from tests.app.conftest import make_settings
from tests.factories.conversations import transcript, utterance

PERIOD = "since=2026-11-20&until=2026-11-22"  # local (Asia/Shanghai) days 20 and 21 November
NEGATIVE = {"angry", "sad", "anxious"}  # rules.yaml negative_turn.emotions (min_confidence 0.6)
SEVERITIES = ("none", "general", "important", "major")

Auth = dict[str, dict[str, str]]


def _payloads() -> list[dict[str, Any]]:
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


def _seed(client: TestClient, auth: Auth) -> dict[str, dict[str, Any]]:
    """Post the conversations; review two (a2-major confirmed, a1-chat dismissed); external_id -> read-back."""
    out = {}
    for payload in _payloads():
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


def _counted(conv: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in conv["findings"] if f["kind"] != "pii" and f["overturned_at"] is None]


def _ends_negative(conv: dict[str, Any]) -> bool:
    last = [u for u in conv["utterances"] if u["speaker"] == "customer"][-1]
    return last["emotion"] in NEGATIVE and last["emotion_confidence"] >= 0.6


def _get(client: TestClient, auth: Auth, path: str) -> dict[str, Any]:
    resp = client.get(path, headers=auth["supervisor"])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


class TestAgentReport:
    def test_numbers_per_agent(self, client: TestClient, auth: Auth) -> None:
        convs = _seed(client, auth)
        report = _get(client, auth, f"/v1/reports/agents?{PERIOD}")
        assert report["period"] == {
            "since": "2026-11-19T16:00:00Z",
            "until": "2026-11-21T16:00:00Z",
            "timezone": "Asia/Shanghai",
        }
        rows = {a["agent_id"]: a for a in report["agents"]}
        assert list(rows) == ["a1", "a2"]  # a3's conversation is after the period
        # The angry phone customer is what the model must hear; the calm one is not negative.
        assert _ends_negative(convs["a1-phone"]) is True
        assert _ends_negative(convs["a2-calm"]) is False
        for agent, exts in (("a1", ["a1-chat", "a1-phone"]), ("a2", ["a2-major", "a2-calm"])):
            mine = [convs[e] for e in exts]
            row = rows[agent]
            scores = [c["score"] for c in mine]
            flagged = sum(c["flagged"] for c in mine)
            findings = [f for c in mine for f in _counted(c)]
            negative = sum(_ends_negative(c) for c in mine)
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
        _seed(client, auth)
        rows = {a["agent_id"]: a for a in _get(client, auth, f"/v1/reports/agents?{PERIOD}")["agents"]}
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


class TestDailyReport:
    def test_days_are_local_and_complete(self, client: TestClient, auth: Auth) -> None:
        convs = _seed(client, auth)
        report = _get(client, auth, f"/v1/reports/daily?{PERIOD}")
        days = {d["day"]: d for d in report["days"]}
        assert list(days) == ["2026-11-20", "2026-11-21"]
        for day, exts in (("2026-11-20", ["a1-chat", "a1-phone"]), ("2026-11-21", ["a2-major", "a2-calm"])):
            mine = [convs[e] for e in exts]
            row = days[day]
            assert row["conversations"] == 2
            assert row["flagged"] == sum(c["flagged"] for c in mine)
            severities = Counter(c["severity"] for c in mine)
            assert row["severity_mix"] == {s: severities.get(s, 0) for s in SEVERITIES}
            assert row["mean_score"] == pytest.approx(round(sum(c["score"] for c in mine) / 2, 1))
            terms = Counter(k["term"] for c in mine for k in c["keywords"] if k["speaker"] == "customer")
            expected = sorted(terms.items(), key=lambda t: (-t[1], t[0]))[:10]
            assert [(k["term"], k["conversations"]) for k in row["top_keywords"]] == expected
        assert days["2026-11-20"]["by_channel"] == {"phone": 1, "chat": 1}
        # 00:30 on the 21st in Shanghai is still the 20th in UTC: grouped by the local day it belongs to.
        assert days["2026-11-21"]["by_channel"] == {"phone": 0, "chat": 2}

    def test_rising_keywords_against_the_previous_period(self, client: TestClient, auth: Auth) -> None:
        convs = _seed(client, auth)
        report = _get(client, auth, f"/v1/reports/daily?{PERIOD}")
        assert report["previous_period"]["since"] == "2026-11-17T16:00:00Z"

        def customer_terms(exts: list[str]) -> Counter[str]:
            return Counter(
                k["term"] for e in exts for k in convs[e]["keywords"] if k["speaker"] == "customer"
            )

        now = customer_terms(["a1-chat", "a1-phone", "a2-major", "a2-calm"])
        before = customer_terms(["a1-before"])
        rising = [(t, n, before[t], n - before[t]) for t, n in now.items() if n > before[t]]
        rising.sort(key=lambda r: (-r[3], -r[1], r[0]))
        got = [(k["term"], k["conversations"], k["previous"], k["change"]) for k in report["rising_keywords"]]
        assert got == rising[:10]
        assert got  # the seed has keywords this period

    def test_a_quiet_period_lists_every_day_with_zeros(self, client: TestClient, auth: Auth) -> None:
        report = _get(client, auth, "/v1/reports/daily?since=2026-11-01&until=2026-11-04")
        assert [d["day"] for d in report["days"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
        assert report["days"][0] == {
            "day": "2026-11-01",
            "conversations": 0,
            "by_channel": {"phone": 0, "chat": 0},
            "flagged": 0,
            "severity_mix": dict.fromkeys(SEVERITIES, 0),
            "mean_score": None,
            "top_keywords": [],
        }
        assert report["rising_keywords"] == []


class TestDaylightSaving:
    def test_days_follow_the_zone_across_a_clock_change(
        self, client: TestClient, backend_url: str, tmp_path: Path
    ) -> None:
        # New York falls back on 1 Nov 2026 at 02:00: 23:30 that evening is 04:30 UTC, the offset of the
        # period's start (-4 h) would put it on the 2nd.
        app = create_app(
            make_settings(tmp_path, backend_url, timezone="America/New_York", emotion_enabled=False)
        )
        try:
            with TestClient(app) as other:
                with session_scope(app.state.session_factory) as session:
                    _, ingest = create_key(session, name="ny-ingest", role="ingest")
                    _, reader = create_key(session, name="ny-auditor", role="auditor")
                for n, at in enumerate(
                    ("2026-10-31T23:30:00-04:00", "2026-11-01T23:30:00-05:00", "2026-11-02T00:30:00-05:00")
                ):
                    payload = transcript(
                        f"ny-{n}", [utterance("customer", "在吗"), utterance("agent", "您好")]
                    )
                    payload["started_at"] = at
                    resp = other.post(
                        "/v1/conversations", json=payload, headers={"Authorization": f"Bearer {ingest}"}
                    )
                    assert resp.status_code == 201, resp.text
                resp = other.get(
                    "/v1/reports/daily?since=2026-10-31&until=2026-11-03",
                    headers={"Authorization": f"Bearer {reader}"},
                )
            report = resp.json()
            assert report["period"]["timezone"] == "America/New_York"
            assert report["period"]["since"] == "2026-10-31T04:00:00Z"
            assert report["period"]["until"] == "2026-11-03T05:00:00Z"
            got = [(d["day"], d["conversations"]) for d in report["days"]]
            assert got == [("2026-10-31", 1), ("2026-11-01", 1), ("2026-11-02", 1)]
        finally:
            configure_timezone(client.app.state.settings.timezone)  # type: ignore[attr-defined]


class TestRulesReport:
    def test_hits_and_review_outcomes_per_rule(self, client: TestClient, auth: Auth) -> None:
        convs = _seed(client, auth)
        report = _get(client, auth, f"/v1/reports/rules?{PERIOD}")
        assert report["min_reviews_for_precision"] == 5
        in_period = [convs[e] for e in ("a1-chat", "a1-phone", "a2-major", "a2-calm")]
        expected: dict[tuple[str, str], dict[str, Any]] = {}
        for conv in in_period:
            for f in _counted(conv):
                row = expected.setdefault(
                    ("rule", f["rule"]), {"kind": f["kind"], "hits": 0, "convs": set(), "status": {}}
                )
                row["hits"] += 1
                row["convs"].add(conv["id"])
                row["status"][conv["id"]] = conv["review_status"]
                if f["kind"] == "sensitive_word":
                    cat = expected.setdefault(
                        ("category", f["category"]),
                        {"kind": f["kind"], "hits": 0, "convs": set(), "status": {}},
                    )
                    cat["hits"] += 1
                    cat["convs"].add(conv["id"])
                    cat["status"][conv["id"]] = conv["review_status"]
        got = {(r["group"], r["name"]): r for r in report["rules"]}
        assert set(got) == set(expected)
        for key, want in expected.items():
            statuses = list(want["status"].values())
            assert got[key] == {
                "group": key[0],
                "name": key[1],
                "kind": want["kind"],
                "hits": want["hits"],
                "conversations": len(want["convs"]),
                "reviewed": statuses.count("reviewed") + statuses.count("dismissed"),
                "confirmed": statuses.count("reviewed"),
                "dismissed": statuses.count("dismissed"),
                "precision": None,  # fewer than 5 reviewed conversations
                "overturned": 0,
            }, key
        assert got[("rule", "norm:slow_reply")]["dismissed"] == 1

    def test_precision_appears_after_five_reviews(self, client: TestClient, auth: Auth) -> None:
        ids = []
        for n in range(6):
            payload = transcript(
                f"refusal-{n}",
                [utterance("customer", "能便宜点吗"), utterance("agent", "不行")],
                agent_id="a9",
                started_at=f"2026-11-20T1{n}:00:00+08:00",
            )
            resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
            assert any(f["rule"] == "norm:refusal" for f in resp.json()["findings"])
            ids.append(resp.json()["id"])

        def refusal() -> dict[str, Any]:
            rules = _get(client, auth, f"/v1/reports/rules?{PERIOD}")["rules"]
            return next(r for r in rules if r["name"] == "norm:refusal")

        for cid, status in zip(ids[:4], ("reviewed", "reviewed", "reviewed", "dismissed"), strict=True):
            client.post(
                f"/v1/conversations/{cid}/review", json={"status": status}, headers=auth["supervisor"]
            )
        assert (refusal()["reviewed"], refusal()["precision"]) == (4, None)
        client.post(
            f"/v1/conversations/{ids[4]}/review", json={"status": "reviewed"}, headers=auth["supervisor"]
        )
        row = refusal()
        assert (row["hits"], row["reviewed"], row["confirmed"], row["dismissed"]) == (6, 5, 4, 1)
        assert row["precision"] == 0.8


class TestAppeals:
    def test_overturned_findings_stop_counting_and_appeals_are_counted(
        self, client: TestClient, auth: Auth
    ) -> None:
        convs = _seed(client, auth)
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
        before = {a["agent_id"]: a for a in _get(client, auth, f"/v1/reports/agents?{PERIOD}")["agents"]}
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
        row = {a["agent_id"]: a for a in _get(client, auth, f"/v1/reports/agents?{PERIOD}")["agents"]}["a1"]
        assert (row["appeals_filed"], row["appeals_overturned"]) == (2, 1)
        findings = [f for c in mine for f in _counted(c)]
        assert refusal["id"] not in {f["id"] for f in findings}
        assert row["findings_by_category"] == dict(sorted(Counter(f["category"] for f in findings).items()))
        assert (
            row["findings_by_category"].get("refusal", 0)
            == before["a1"]["findings_by_category"]["refusal"] - 1
        )
        assert row["mean_score"] == pytest.approx(round(sum(c["score"] for c in mine) / 2, 1))

        rules = {r["name"]: r for r in _get(client, auth, f"/v1/reports/rules?{PERIOD}")["rules"]}
        assert (rules["norm:refusal"]["overturned"], rules["norm:slow_reply"]["overturned"]) == (1, 0)
        assert rules["norm:slow_reply"]["hits"] == 1


class TestDownloads:
    def test_csv_has_a_bom_chinese_headers_and_the_json_numbers(self, client: TestClient, auth: Auth) -> None:
        _seed(client, auth)
        as_json = _get(client, auth, f"/v1/reports/agents?{PERIOD}")
        resp = client.get(f"/v1/reports/agents?{PERIOD}&format=csv", headers=auth["auditor"])
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "text/csv; charset=utf-8"
        assert (
            resp.headers["content-disposition"]
            == 'attachment; filename="report-agents-20261120-20261122.csv"'
        )
        assert resp.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert [r["坐席"] for r in rows] == ["a1", "a2"]
        for row, agent in zip(rows, as_json["agents"], strict=True):
            assert int(row["会话数"]) == agent["conversations"]
            assert float(row["平均分"]) == agent["mean_score"]
            assert int(row["标记会话数"]) == agent["flagged"]
            first_ms = agent["phone"]["first_avg_ms"]
            assert row["电话：首次响应均值（秒）"] == ("" if first_ms is None else str(first_ms / 1000))
            assert int(row["在线：回复超时次数"]) == agent["chat"]["slow_replies"]
            assert int(row["复核驳回"]) == agent["dismissed"]
            assert int(row["问题数：重大"]) == agent["findings_by_severity"]["major"]

    def test_daily_csv_then_rising_keywords(self, client: TestClient, auth: Auth) -> None:
        _seed(client, auth)
        as_json = _get(client, auth, f"/v1/reports/daily?{PERIOD}")
        resp = client.get(f"/v1/reports/daily?{PERIOD}&format=csv", headers=auth["supervisor"])
        lines = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert lines[0][:3] == ["日期", "会话数", "渠道：电话"]
        assert [line[0] for line in lines[1:3]] == ["2026-11-20", "2026-11-21"]
        assert lines[3:5] == [[], ["上升关键词"]]
        assert lines[5] == ["关键词", "本期会话数", "上期会话数", "增加"]
        assert [line[0] for line in lines[6:]] == [k["term"] for k in as_json["rising_keywords"]]

    def test_xlsx_opens_with_the_same_numbers(self, client: TestClient, auth: Auth) -> None:
        _seed(client, auth)
        as_json = _get(client, auth, f"/v1/reports/rules?{PERIOD}")
        resp = client.get(f"/v1/reports/rules?{PERIOD}&format=xlsx", headers=auth["admin"])
        assert resp.status_code == 200
        assert resp.headers["content-type"] == (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        assert (
            resp.headers["content-disposition"]
            == 'attachment; filename="report-rules-20261120-20261122.xlsx"'
        )
        book = load_workbook(io.BytesIO(resp.content), read_only=True)
        assert book.sheetnames == ["规则报表"]
        rows = list(book["规则报表"].iter_rows(values_only=True))
        assert rows[0][:4] == ("类型", "名称", "种类", "命中次数")
        assert len(rows) == 1 + len(as_json["rules"])
        by_name = {r["name"]: r for r in as_json["rules"] if r["group"] == "rule"}
        slow = next(r for r in rows[1:] if r[0] == "规则" and r[1] == "norm:slow_reply")
        assert slow[2:8] == (
            "服务规范",
            by_name["norm:slow_reply"]["hits"],
            by_name["norm:slow_reply"]["conversations"],
            1,
            0,
            1,
        )

    def test_daily_xlsx_has_two_sheets(self, client: TestClient, auth: Auth) -> None:
        _seed(client, auth)
        resp = client.get(f"/v1/reports/daily?{PERIOD}&format=xlsx", headers=auth["supervisor"])
        book = load_workbook(io.BytesIO(resp.content), read_only=True)
        assert book.sheetnames == ["日报", "上升关键词"]
        days = [r[0] for r in book["日报"].iter_rows(min_row=2, values_only=True)]
        assert days == ["2026-11-20", "2026-11-21"]

    def test_an_agent_id_that_looks_like_a_formula_stays_text(self, client: TestClient, auth: Auth) -> None:
        payload = transcript(
            "formula", [utterance("customer", "在吗"), utterance("agent", "您好")], agent_id="=HYPERLINK(1)"
        )
        assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201
        resp = client.get(f"/v1/reports/agents?{PERIOD}&format=csv", headers=auth["supervisor"])
        rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert rows[1][0] == "'=HYPERLINK(1)"


class TestValidation:
    @pytest.mark.parametrize(
        "query",
        [
            "since=2026-11-22&until=2026-11-20",  # since after until
            "since=2026-11-20&until=2026-11-20",  # empty period
            "since=yesterday",
            "since=1999-12-31&until=2000-01-02",  # outside the supported years
            "since=2025-01-01&until=2026-11-20",  # more than 366 days
            "format=pdf",
            "agent=a1",  # a misspelt or unknown parameter is refused, not ignored
        ],
    )
    @pytest.mark.parametrize("report", ["agents", "daily", "rules"])
    def test_bad_period_is_422(self, client: TestClient, auth: Auth, report: str, query: str) -> None:
        resp = client.get(f"/v1/reports/{report}?{query}", headers=auth["supervisor"])
        assert resp.status_code == 422, resp.text
        assert resp.json()["error"]["code"] == "validation_error"

    def test_one_bound_far_from_today_is_422(self, client: TestClient, auth: Auth) -> None:
        # until defaults to the next local midnight: since in 2000 would make a report of 26 years.
        resp = client.get("/v1/reports/daily?since=2000-01-01", headers=auth["supervisor"])
        assert resp.status_code == 422
        assert resp.json()["error"]["code"] == "period_too_long"

    def test_until_alone_covers_the_seven_days_before(self, client: TestClient, auth: Auth) -> None:
        report = _get(client, auth, "/v1/reports/daily?until=2026-11-22")
        assert [d["day"] for d in report["days"]][0::6] == ["2026-11-15", "2026-11-21"]
        assert len(report["days"]) == 7

    def test_default_period_is_the_last_seven_local_days(self, client: TestClient, auth: Auth) -> None:
        days = _get(client, auth, "/v1/reports/daily")["days"]
        assert len(days) == 7


class TestRoles:
    def test_readers_and_refused(self, client: TestClient, auth: Auth) -> None:
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            _, agent_key = create_key(session, name="agent-a1", role="agent", agent_id="a1")
        for report in ("agents", "daily", "rules"):
            for role in ("supervisor", "auditor", "admin"):
                assert client.get(f"/v1/reports/{report}", headers=auth[role]).status_code == 200
            assert client.get(f"/v1/reports/{report}", headers=auth["ingest"]).status_code == 403
            agent = client.get(f"/v1/reports/{report}", headers={"Authorization": f"Bearer {agent_key}"})
            assert agent.status_code == 403
            assert client.get(f"/v1/reports/{report}").status_code == 401
