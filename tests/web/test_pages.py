"""The console's files: served without a key, from app/web/static only, under a strict CSP; no data in them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.web.router import STATIC_DIR


class TestPages:
    def test_console_and_login_pages(self, client: TestClient) -> None:
        page = client.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert client.get("/").text == page.text
        assert '<script type="module" src="/static/js/app.js"></script>' in page.text
        assert '<script src="/static/vendor/echarts/echarts.min.js"></script>' in page.text
        login = client.get("/login")
        assert (login.status_code, '<form id="login-form"' in login.text) == (200, True)
        # The pages hold no data: the API behind them still wants a key or a session.
        assert client.get("/v1/conversations?flagged=true").status_code == 401

    @pytest.mark.parametrize("path", ["/", "/ui", "/login", "/static/js/app.js"])
    def test_head_answers_like_get_without_a_body(self, client: TestClient, path: str) -> None:
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (200, b"")
        for header in ("content-type", "content-length", "etag", "content-security-policy"):
            assert head.headers[header] == got.headers[header], header

    def test_static_files_with_their_types(self, client: TestClient) -> None:
        for path, kind in (
            ("/static/js/app.js", "text/javascript; charset=utf-8"),
            ("/static/css/console.css", "text/css; charset=utf-8"),
            ("/static/vendor/echarts/echarts.min.js", "text/javascript; charset=utf-8"),
            ("/static/vendor/echarts/LICENSE", "text/plain; charset=utf-8"),
        ):
            resp = client.get(path)
            assert (resp.status_code, resp.headers["content-type"]) == (200, kind), path
            assert resp.headers["cache-control"] == "no-cache"
            assert "script-src 'self'" in resp.headers["content-security-policy"]
        assert "Apache License" in client.get("/static/vendor/echarts/LICENSE").text
        assert client.get("/static/vendor/echarts/VERSION").text.startswith("echarts 6.1.0")

    @pytest.mark.parametrize(
        "path",
        [
            "/static/../router.py",
            "/static/%2e%2e/router.py",
            "/static/..%2frouter.py",
            "/static/js",
            "/static/nope.js",
            "/static/js/app.js.map",
            "/static/%2fetc%2fpasswd",
        ],
    )
    def test_nothing_outside_the_static_folder(self, client: TestClient, path: str) -> None:
        resp = client.get(path)
        assert resp.status_code == 404
        assert "__future__" not in resp.text


class TestScriptsStayInsideTheCsp:
    def test_no_inline_code_no_html_injection_no_cdn(self) -> None:
        scripts = [p for p in STATIC_DIR.rglob("*.js") if "vendor" not in p.parts]
        assert len(scripts) == 14
        for path in scripts:
            text = path.read_text(encoding="utf-8")
            # Text reaches the page as text nodes only (fmt.h): a transcript cannot inject markup.
            assert (
                re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", text)
                is None
            ), path
            assert re.search(r"https?://", text) is None, path
