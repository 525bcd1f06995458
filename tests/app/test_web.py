"""The web page is served without a key and drives the same API (which still demands one)."""

from __future__ import annotations

from fastapi.testclient import TestClient


class TestWebPage:
    def test_page_served_and_api_still_locked(self, client: TestClient) -> None:
        page = client.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "待复核预警队列" in page.text
        assert "/v1/conversations/" in page.text
        assert client.get("/").text == page.text
        assert client.get("/v1/conversations?flagged=true").status_code == 401
