"""Retention of whole conversations: off by default; when set, old ones go in batches with everything of
theirs, recent ones stay."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Finding, Keyword, Utterance
from app.db.session import session_scope
from app.retention.service import purge_expired, purge_expired_conversations
from tests.factories.conversations import transcript, utterance


def _post_old_and_new(client: TestClient, auth: dict[str, dict[str, str]]) -> dict[str, str]:
    items: list[dict[str, Any]] = [
        transcript(
            f"old-{i}",
            [utterance("customer", "再这样我要投诉你们"), utterance("agent", "不知道，你自己查")],
            started_at=f"2025-0{i + 1}-10T10:00:00+08:00",
        )
        for i in range(5)
    ]
    items.append(transcript("new", [utterance("customer", "在吗")], started_at="2026-11-28T10:00:00+08:00"))
    resp = client.post("/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"])
    assert resp.status_code == 200, resp.text
    return {r["external_id"]: r["id"] for r in resp.json()["results"]}


def _rows(client: TestClient) -> tuple[int, int, int]:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory, read_only=True) as s:
        return (
            s.scalar(select(func.count()).select_from(Utterance)) or 0,
            s.scalar(select(func.count()).select_from(Finding)) or 0,
            s.scalar(select(func.count()).select_from(Keyword)) or 0,
        )


class TestConversationRetention:
    def test_off_by_default(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        ids = _post_old_and_new(client, auth)
        settings = client.app.state.settings  # type: ignore[attr-defined]
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        assert settings.conversation_retention_days is None
        assert purge_expired_conversations(factory, settings=settings) == 0
        resp = client.get(f"/v1/conversations/{ids['old-0']}", headers=auth["auditor"])
        assert resp.status_code == 200

    def test_old_conversations_go_in_batches_with_all_their_rows(
        self, client: TestClient, auth: dict[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ids = _post_old_and_new(client, auth)
        settings = client.app.state.settings  # type: ignore[attr-defined]
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        new_utterances = 1
        assert _rows(client)[0] == 5 * 2 + new_utterances
        monkeypatch.setattr(settings, "conversation_retention_days", 180)
        monkeypatch.setattr(settings, "retention_batch_size", 2)  # three batches for five rows
        assert purge_expired_conversations(factory, settings=settings) == 5
        for i in range(5):
            gone = client.get(f"/v1/conversations/{ids[f'old-{i}']}", headers=auth["auditor"])
            assert gone.status_code == 404
        kept = client.get(f"/v1/conversations/{ids['new']}", headers=auth["auditor"])
        assert kept.status_code == 200
        utterances, findings, keywords = _rows(client)
        assert utterances == new_utterances
        assert findings == len(kept.json()["findings"])
        assert keywords == len(kept.json()["keywords"])
        listed = client.get("/v1/conversations", headers=auth["auditor"]).json()
        assert [i["external_id"] for i in listed["items"]] == ["new"]
        # nothing left to do: a second run deletes nothing; the runner's call site runs both policies
        assert purge_expired(factory, settings=settings) == 0
