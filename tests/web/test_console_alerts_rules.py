"""The console in a real browser: a live alert acknowledged, a rule dry-run, rule versions.

Playwright drives Debian's Chromium against a real `audit serve` seeded by `audit demo load` (fixtures in
tests/web/conftest.py, helpers in tests/web/console_support.py). Every test fails on a script error or a
Content-Security-Policy violation; screenshots go to var/screenshots/ (1366×768).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from app.settings import REPO_ROOT
from tests.factories.conversations import transcript, utterance
from tests.web.console_support import (
    NEEDS_CHROMIUM,
    Console,
    cookie_api,
    until,
)

pytestmark = NEEDS_CHROMIUM


class TestAlerts:
    def test_alert_arrives_live_and_is_acknowledged(self, console: Console, ingest: httpx.Client) -> None:
        console.sign_in("demo-supervisor")
        page = console.page
        console.go("alerts")
        page.wait_for_selector("#alerts-total")
        page.wait_for_timeout(1500)  # the live feed is connected
        count = int(page.inner_text("#alert-count"))
        ingest.post(
            "/v1/conversations",
            json=transcript(
                "alert-live-1",
                [
                    utterance("customer", "三天了还没到，我要去12315投诉你们"),
                    utterance("agent", "您好，非常抱歉，马上为您处理"),
                ],
                agent_id="A5",
                started_at=datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(),
            ),
        )
        fresh = page.wait_for_selector("#alerts-table tr.fresh", timeout=20000)
        until(page, f"Number(document.getElementById('alert-count').textContent) > {count}")
        raised = int(page.inner_text("#alert-count"))
        assert "12315" in fresh.inner_text()
        console.shot("alert-live")
        alert_id = fresh.get_attribute("data-id")
        fresh.query_selector(".ack-btn").click()
        until(page, f"Number(document.getElementById('alert-count').textContent) === {raised - 1}")
        acked = cookie_api(console).get(f"/v1/alerts/{alert_id}").json()
        assert (acked["acknowledged"], acked["acknowledged_by_name"]) == (True, "demo-supervisor")


class TestRuleDryRun:
    def test_dry_run_a_new_forbidden_phrase(self, console: Console) -> None:
        console.sign_in("demo-auditor")
        page = console.page
        console.go("rules")
        page.wait_for_selector("#dry-run-submit")
        # The defaults: add 「找快递去」 as a 重要 服务禁语 for agents, on two sample chats.
        assert page.input_value("#word-term") == "找快递去"
        page.click("#dry-run-submit")
        page.wait_for_selector("#dry-run-result", timeout=90000)
        summary = page.inner_text("#dry-run-summary")
        assert summary.startswith("比较了 2 个会话")
        assert "新增问题 1" in summary
        row = page.inner_text("#dry-run-rules tbody tr:has-text('服务禁语')")
        assert "+1" in row
        assert "这事你找快递去" in row
        console.shot("rules-dry-run")


class TestRuleVersions:
    def test_apply_refuse_and_roll_back(self, console: Console, admin_api: httpx.Client) -> None:
        assert admin_api.get("/v1/admin/rules/versions").json()["items"] == []
        console.sign_in("demo-admin")
        page = console.page
        assert page.inner_text("#nav a[data-route='versions']") == "规则版本"
        console.go("versions")
        page.wait_for_selector("#version-apply")
        until(page, "document.getElementById('versions-status').textContent.includes('lexicons/rules.yaml')")
        assert page.inner_text("#versions-list").startswith("暂无保存的版本")
        # A YAML that does not validate: the server's reason is shown and nothing is stored.
        page.fill("#version-yaml", "flag: [这里没有闭合")
        page.click("#version-apply")
        page.wait_for_selector("#version-error")
        assert page.inner_text("#version-error").startswith("未应用：")
        # The browser logs the refused request; that one is expected here (any other error still fails the test).
        console.problems.remove(
            "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
        )
        assert admin_api.get("/v1/admin/rules/versions").json()["items"] == []
        # The file with one more comment line: valid, stored as version 2 after the file as version 1.
        candidate = (REPO_ROOT / "lexicons" / "rules.yaml").read_text(
            encoding="utf-8"
        ) + "\n# 浏览器测试的版本\n"
        page.fill("#version-yaml", candidate)
        page.fill("#version-note", "加一行注释")
        page.click("#version-apply")
        page.wait_for_selector("#versions-table")
        until(page, "document.getElementById('version-message').textContent.includes('第 2 版现已生效')")
        states = page.eval_on_selector_all(
            "#versions-table tbody tr",
            "rows => rows.map(r => [r.dataset.version, r.querySelector('.version-state').textContent])",
        )
        assert states == [["2", "生效中"], ["1", "未生效"]]
        assert "加一行注释" in page.inner_text("#versions-table tr[data-version='2']")
        console.shot("rule-versions")
        # Roll back: version 1 (the file) in force again.
        page.click("#versions-table tr[data-version='1'] .activate-btn")
        until(
            page,
            "document.querySelector(\"#versions-table tr[data-version='1'] .version-state\").textContent === '生效中'",
        )
        assert "当前生效：第 1 版" in page.inner_text("#versions-status")
        listed = admin_api.get("/v1/admin/rules/versions").json()
        assert listed["active_version"] == 1
        assert [(v["version"], v["active"]) for v in listed["items"]] == [(2, False), (1, True)]
