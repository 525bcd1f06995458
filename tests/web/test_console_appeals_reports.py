"""The console in a real browser: an agent's appeal and its overturn, and both reports' charts.

Playwright drives Debian's Chromium against a real `audit serve` seeded by `audit demo load` (fixtures in
tests/web/conftest.py, helpers in tests/web/console_support.py). Every test fails on a script error or a
Content-Security-Policy violation; screenshots go to var/screenshots/ (1366×768).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.factories.conversations import transcript, utterance
from tests.live_server import LiveServer
from tests.web.console_support import (
    NEEDS_CHROMIUM,
    Console,
    canvas_ink,
    cookie_api,
)

pytestmark = NEEDS_CHROMIUM


class TestAppeal:
    def test_agent_appeals_and_supervisor_overturns(
        self, browser: Any, server: LiveServer, ingest: httpx.Client
    ) -> None:
        conv = ingest.post(
            "/v1/conversations",
            json=transcript(
                "appeal-1",
                [
                    utterance("customer", "发票开错了"),
                    utterance("agent", "你爱买不买"),
                    utterance("agent", "您好，这就为您重开，还有什么可以帮您"),
                ],
                agent_id="A7",
                started_at=datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(),
            ),
        ).json()
        before = conv["score"]
        agent = Console(browser, server)
        try:
            agent.sign_in("demo-agent")
            page = agent.page
            assert [a.inner_text() for a in page.query_selector_all("#nav a")] == ["会话检索", "申诉"]
            page.wait_for_selector("#search-results .conv-row")
            agents = {
                r.query_selector_all("td")[3].inner_text() for r in page.query_selector_all(".conv-row")
            }
            assert agents == {"A7"}  # an agent sees its own conversations only
            agent.shot("search-agent")
            agent.go(f"c/{conv['id']}")
            page.wait_for_selector("#findings .appeal-btn")
            page.click("#findings li:has-text('爱买不买') .appeal-btn")
            page.fill("#appeal-reason", "客户要求我这样回复，请复核")
            page.click("#appeal-submit")
            page.wait_for_selector("#findings .tag:has-text('申诉中')")
            assert "申诉" in page.inner_text("#history")
            assert page.query_selector("#review-box") is None  # agents do not review
            agent.shot("appeal-agent")
        finally:
            agent.close()

        lead = Console(browser, server)
        try:
            lead.sign_in("demo-supervisor")
            lead.go("appeals")
            page = lead.page
            card = page.wait_for_selector(".card.appeal:has-text('客户要求我这样回复')")
            card.query_selector(".decision-note").fill("核实录音，申诉成立")
            lead.shot("appeals-supervisor")
            card.query_selector(".overturn-btn").click()
            page.wait_for_selector("#toast:has-text('已撤销')")
            api = cookie_api(lead)
            appeal = api.get(f"/v1/conversations/{conv['id']}/appeals").json()[0]
            assert (appeal["status"], appeal["decided_by"], appeal["decision_note"]) == (
                "overturned",
                "demo-supervisor",
                "核实录音，申诉成立",
            )
            after = api.get(f"/v1/conversations/{conv['id']}").json()
            assert after["score"] > before
            lead.go(f"c/{conv['id']}")
            page.wait_for_selector("#findings li.overturned")
            assert "申诉裁决：已撤销" in page.inner_text("#history")
        finally:
            lead.close()


class TestReports:
    def test_both_reports_draw_their_charts(self, console: Console) -> None:
        console.sign_in("demo-supervisor")
        page = console.page
        console.go("agents")
        page.wait_for_selector("#agents-table tbody tr")
        for chart in ("#chart-agents-score", "#chart-agents-severity"):
            assert canvas_ink(page, chart) > 2000, chart
        box = page.query_selector("#chart-agents-score").bounding_box()
        page.mouse.move(
            box["x"] + box["width"] / 3, box["y"] + box["height"] / 2
        )  # a tooltip, within the CSP
        page.wait_for_timeout(300)
        console.shot("report-agents")
        console.go("daily")
        page.wait_for_selector("#daily-table tbody tr")
        for chart in ("#chart-daily-trend", "#chart-daily-severity", "#chart-daily-keywords"):
            assert canvas_ink(page, chart) > 2000, chart
        assert len(page.query_selector_all("#daily-table tbody tr")) == 7
        console.shot("report-daily")
        href = page.get_attribute(".downloads a:has-text('CSV')", "href")
        csv = cookie_api(console).get(href)
        assert (csv.status_code, csv.headers["content-type"].split(";")[0]) == (200, "text/csv")
