"""Report downloads (CSV, XLSX), period validation and roles through the API.

The data and helpers are in tests/app/test_reports_support.py.
"""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

from app.auth.service import create_key
from app.db.session import session_scope
from tests.app.test_reports_support import (
    PERIOD,
    Auth,
    get,
    seed,
)
from tests.factories.conversations import transcript, utterance


class TestDownloads:
    def test_csv_has_a_bom_chinese_headers_and_the_json_numbers(self, client: TestClient, auth: Auth) -> None:
        seed(client, auth)
        as_json = get(client, auth, f"/v1/reports/agents?{PERIOD}")
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
        seed(client, auth)
        as_json = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        resp = client.get(f"/v1/reports/daily?{PERIOD}&format=csv", headers=auth["supervisor"])
        lines = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
        assert lines[0][:3] == ["日期", "会话数", "渠道：电话"]
        assert [line[0] for line in lines[1:3]] == ["2026-11-20", "2026-11-21"]
        assert lines[3:5] == [[], ["上升关键词"]]
        assert lines[5] == ["关键词", "本期会话数", "上期会话数", "增加"]
        assert [line[0] for line in lines[6:]] == [k["term"] for k in as_json["rising_keywords"]]

    def test_xlsx_opens_with_the_same_numbers(self, client: TestClient, auth: Auth) -> None:
        seed(client, auth)
        as_json = get(client, auth, f"/v1/reports/rules?{PERIOD}")
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
        seed(client, auth)
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
        report = get(client, auth, "/v1/reports/daily?until=2026-11-22")
        assert [d["day"] for d in report["days"]][0::6] == ["2026-11-15", "2026-11-21"]
        assert len(report["days"]) == 7

    def test_default_period_is_the_last_seven_local_days(self, client: TestClient, auth: Auth) -> None:
        days = get(client, auth, "/v1/reports/daily")["days"]
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
