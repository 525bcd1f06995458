"""The console in a real browser: signing in (wrong password, lock-out, out again) and working the queue.

Playwright drives Debian's Chromium against a real `audit serve` seeded by `audit demo load` (fixtures in
tests/web/conftest.py, helpers in tests/web/console_support.py). Every test fails on a script error or a
Content-Security-Policy violation; screenshots go to var/screenshots/ (1366×768).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx

from tests.factories.conversations import transcript, utterance
from tests.web.console_support import (
    NEEDS_CHROMIUM,
    PASSWORD,
    Console,
    cookie_api,
    until,
)

pytestmark = NEEDS_CHROMIUM


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
