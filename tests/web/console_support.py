"""Helpers of the browser tests (no tests here): the console in one browser context, and waits on the page.

The fixtures (one `audit demo load` + `audit serve` and one Chromium for the whole session, a fresh context
per test) are in tests/web/conftest.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import REPO_ROOT
from tests.live_server import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "var" / "screenshots"
AUDIT = str(REPO_ROOT / ".venv" / "bin" / "audit")
PASSWORD = "demo-password-2026"  # the demo users' (audit demo load --password)

# Every browser test module: `pytestmark = NEEDS_CHROMIUM`.
NEEDS_CHROMIUM = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)"
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
