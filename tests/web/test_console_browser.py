"""The console in a real browser: Playwright driving Debian's Chromium against a real `audit serve`.

One server for the module, seeded by `audit demo load` (so the demo command is exercised end to end), and a
fresh browser context per test. Every test fails on a script error or a Content-Security-Policy violation.
Screenshots go to var/screenshots/ (1366×768, the size the console is made for).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.settings import REPO_ROOT
from tests.factories.conversations import transcript, utterance
from tests.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "var" / "screenshots"
AUDIT = str(REPO_ROOT / ".venv" / "bin" / "audit")
PASSWORD = "demo-password-2026"

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`audit demo load` (16 JDDC conversations, users per role) into a fresh SQLite, then `audit serve`."""
    data_dir = tmp_path_factory.mktemp("console")
    srv = LiveServer(data_dir=data_dir)
    env = {**srv.env, "AUDIT_START_WORKER": "false"}
    demo = subprocess.run(
        [AUDIT, "demo", "load", "--conversations", "16", "--days", "7", "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=REPO_ROOT,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "16 conversations stored" in demo.stdout
    for user in ("demo-supervisor", "demo-auditor", "demo-admin", "demo-agent"):
        assert user in demo.stdout
    # A user made by the operators' command, for the lock-out test.
    made = subprocess.run(
        [AUDIT, "users", "create", "--role", "auditor", "--name", "locky", "--password-stdin"],
        input="locky-password-1\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--lang=zh-CN"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def ingest(server: LiveServer) -> httpx.Client:
    """An API client with an ingest key: the QA system posting conversations while people work."""
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.create_key('ingest')}"}, timeout=120
    )


@pytest.fixture(scope="module")
def admin_api(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.create_key('admin')}"}, timeout=60
    )


def _expected(message: str) -> bool:
    # The browser logs every 4xx answer; refused sign-ins (401, 429) are what some tests provoke.
    return message.startswith("Failed to load resource") and ("401" in message or "429" in message)


class Console:
    """One browser context (own cookies) at 1366×768, in UTC: the page must show the centre's time anyway."""

    def __init__(self, browser: Any, server: LiveServer) -> None:
        self.server = server
        self.context = browser.new_context(
            viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="UTC"
        )
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        self.page.on(
            "console",
            lambda m: self.problems.append(m.text) if m.type == "error" and not _expected(m.text) else None,
        )

    def sign_in(self, user: str, password: str = PASSWORD) -> None:
        self.page.goto(f"{self.server.url}/")
        self.page.wait_for_url("**/login?next=*")
        self.page.fill("#username", user)
        self.page.fill("#password", password)
        self.page.click("#login-submit")
        self.page.wait_for_selector("#nav a")

    def go(self, route: str) -> None:
        self.page.goto(f"{self.server.url}/#/{route}")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], self.problems  # script errors, CSP refusals


@pytest.fixture
def console(browser: Any, server: LiveServer) -> Iterator[Console]:
    c = Console(browser, server)
    yield c
    c.close()


def cookie_api(console: Console) -> httpx.Client:
    """The API as the browser's signed-in user (its cookie), to check what the clicks stored."""
    cookies = {c["name"]: c["value"] for c in console.context.cookies()}
    return httpx.Client(base_url=console.server.url, cookies=cookies, timeout=60)


def until(page: Any, js: str, timeout: float = 20.0) -> None:
    """Poll `js` in the page until it is true (wait_for_function would need 'unsafe-eval', which CSP refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(js):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout:.0f} s: {js}")
        page.wait_for_timeout(200)


def canvas_ink(page: Any, selector: str) -> int:
    """Pixels drawn (alpha > 0) on the chart's canvas: 0 means the chart did not draw."""
    page.wait_for_selector(f"{selector} canvas")
    return int(
        page.eval_on_selector(
            f"{selector} canvas",
            """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
        )
    )


class TestSignIn:
    def test_wrong_password_then_lock_out(self, console: Console) -> None:
        page = console.page
        page.goto(f"{console.server.url}/login")
        for n in range(5):
            page.fill("#username", "locky")
            page.fill("#password", f"wrong-guess-{n}")
            page.click("#login-submit")
            page.wait_for_selector("#login-error:not([hidden])")
            assert page.inner_text("#login-error") == "用户名或密码错误"
            page.eval_on_selector("#login-error", "e => e.hidden = true")
        page.fill("#username", "locky")
        page.fill("#password", "locky-password-1")  # right, but too late
        page.click("#login-submit")
        page.wait_for_selector("#login-error:not([hidden])")
        assert "账号已锁定" in page.inner_text("#login-error")
        assert "/login" in page.url
        console.shot("login-locked")
        assert console.context.cookies() == []

    def test_sign_in_and_out(self, console: Console) -> None:
        page = console.page
        # A crafted `next` cannot send the user to another site after signing in.
        page.goto(f"{console.server.url}/login?next=/%5Cevil.example/")
        page.fill("#username", "demo-auditor")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector("#nav a")
        assert page.url.startswith(f"{console.server.url}/")
        assert page.inner_text("#who") == "demo-auditor · 质检员"
        cookie = next(c for c in console.context.cookies() if c["name"] == "audit_session")
        assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
        assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read the session
        page.click("#logout")
        page.wait_for_url("**/login")
        page.goto(f"{console.server.url}/#/search")
        page.wait_for_url("**/login?next=*")


class TestQueue:
    def test_work_the_queue(self, console: Console, ingest: httpx.Client) -> None:
        now = datetime.now(ZoneInfo("Asia/Shanghai"))
        for n, rude in enumerate(["不知道，你自己查", "你爱买不买"]):
            ingest.post(
                "/v1/conversations",
                json=transcript(
                    f"queue-{n}",
                    [utterance("customer", "快递三天了还没到"), utterance("agent", rude)],
                    agent_id="A2",
                    started_at=now.isoformat(),
                ),
            )
        console.sign_in("demo-supervisor")
        page = console.page
        page.wait_for_selector("#queue-list .conv-row")
        api = cookie_api(console)
        queue = api.get("/v1/conversations", params={"flagged": "true", "review_status": "unreviewed"}).json()
        rows = page.query_selector_all("#queue-list .conv-row")
        assert len(rows) == queue["total"] >= 2
        ranks = {"重大": 3, "重要": 2, "一般": 1, "无": 0}
        shown = [ranks[r.query_selector(".sev").inner_text()] for r in rows]
        assert shown == sorted(shown, reverse=True)  # most severe first
        first = queue["items"][0]
        local = datetime.fromisoformat(first["started_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
        assert rows[0].query_selector_all("td")[5].inner_text() == local.strftime("%Y-%m-%d %H:%M:%S")
        console.shot("queue")

        rows[0].query_selector("a").click()
        page.wait_for_selector("#transcript .utt")
        conv = api.get(f"/v1/conversations/{first['id']}").json()
        assert len(page.query_selector_all("#transcript .utt")) == len(conv["utterances"])
        assert len(page.query_selector_all("#emotion-strip .lane:not(.marks) .seg")) == len(
            conv["utterances"]
        )
        spans = [f for f in conv["findings"] if f["start"] is not None and f["severity"] != "none"]
        assert len(page.query_selector_all("#transcript mark.hl")) >= 1
        marked = {page.inner_text(f"#hl-{f['id']}") for f in spans if page.query_selector(f"#hl-{f['id']}")}
        assert marked  # the highlighted text is the finding's own span
        f = next(f for f in spans if page.query_selector(f"#hl-{f['id']}"))
        text = conv["utterances"][f["utterance_index"]]["text"][f["start"] : f["end"]]
        assert page.inner_text(f"#hl-{f['id']}") == text
        page.click("#findings .finding-link")
        page.wait_for_selector(".utt.flash")
        console.shot("conversation")

        page.fill("#review-note", "已提醒坐席注意用语")
        page.click("#review-confirm")
        until(page, f"!location.hash.includes('{first['id']}')")
        assert "/c/" in page.url  # straight on to the next one in the queue
        after = api.get(f"/v1/conversations/{first['id']}/reviews").json()
        assert after["review_status"] == "reviewed"
        assert [(r["reviewer"], r["note"]) for r in after["history"]] == [
            ("demo-supervisor", "已提醒坐席注意用语")
        ]


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


class TestRecording:
    def test_player_plays_the_recording_and_jumps_to_a_turn(
        self, console: Console, ingest: httpx.Client, tmp_path: Path
    ) -> None:
        import numpy as np
        import soundfile as sf

        from tests.conftest import SHARED_DATA

        # Agent (left) says W0121 from 0.5 s, customer (right) W0122 from 6 s: an 11-second stereo call.
        agent, sr = sf.read(SHARED_DATA / "speech" / "BAC009S0764W0121.wav", dtype="float32")
        customer, _ = sf.read(SHARED_DATA / "speech" / "BAC009S0764W0122.wav", dtype="float32")
        call = np.zeros((sr * 11, 2), dtype=np.float32)
        call[sr // 2 : sr // 2 + len(agent), 0] = agent
        call[sr * 6 : sr * 6 + len(customer), 1] = customer
        path = tmp_path / "call.wav"
        sf.write(path, call, sr)
        with path.open("rb") as fh:
            accepted = ingest.post(
                "/v1/conversations/audio",
                data={
                    "external_id": "rec-browser",
                    "agent_id": "A4",
                    "channel_layout": "stereo_agent_left",
                    "started_at": datetime.now(ZoneInfo("Asia/Shanghai")).isoformat(),
                },
                files={"file": ("call.wav", fh, "audio/wav")},
            )
        assert accepted.status_code == 202, accepted.text
        conv_id = accepted.json()["conversation_id"]
        console.sign_in("demo-supervisor")
        api = cookie_api(console)
        deadline = time.monotonic() + 240
        while (conv := api.get(f"/v1/conversations/{conv_id}").json())["status"] != "analysed":
            assert conv["status"] == "pending_transcription"
            assert time.monotonic() < deadline
            time.sleep(1)
        page = console.page
        console.go(f"c/{conv_id}")
        page.wait_for_selector("#player")
        until(page, "document.getElementById('player').readyState >= 1")  # served with the cookie
        assert abs(page.evaluate("document.getElementById('player').duration") - 11.0) < 0.2
        turn = next(u for u in conv["utterances"] if u["speaker"] == "customer")
        page.click(f"#u-{turn['index']} .ts")
        until(
            page, f"Math.abs(document.getElementById('player').currentTime - {turn['start_ms'] / 1000}) < 0.6"
        )
        console.shot("conversation-recording")
