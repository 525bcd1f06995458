"""Fixtures and helpers shared by the alert test modules (no tests here): an app whose alert targets all point
at a real receiver on 127.0.0.1, the lexicons it reads, headers per role, and the conversations posted.

A test module imports the fixtures by name; module-scoped ones (receiver, lexicons, app) are made once per
module, so a module may change its own copy of the lexicons.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from app.auth.service import create_key
from app.db import AlertDelivery, Base
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT
from tests.app.conftest import make_settings
from tests.app.test_alerts_support import (
    Receiver,
    receiver,
    targets,
)
from tests.factories.conversations import transcript, utterance

ESCALATION = [utterance("customer", "我要打12315投诉你们"), utterance("agent", "您好，请稍等")]
ANGRY = [
    utterance("customer", "快递三天了还没到"),
    utterance("agent", "您好，请稍等"),
    utterance("customer", "你们这什么破服务，气死我了，太过分了！"),
]
RUDE = [
    utterance("customer", "我的货呢"),
    utterance("agent", "不知道，你自己查"),
    utterance("customer", "你们怎么这样"),
    utterance("agent", "不知道，关我什么事，爱买不买"),
]
CALM = [
    utterance("customer", "请问这个什么时候发货"),
    utterance("agent", "您好，今天下午就发货，请问还有什么可以帮您"),
    utterance("customer", "好的谢谢"),
    utterance("agent", "不客气，祝您生活愉快"),
]


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    """The receiver every target of the module's app points at."""
    with receiver() as r:
        yield r


@pytest.fixture(scope="module")
def alert_lexicons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's lexicons, with the agent-day threshold lowered to 2 (fewer posts per test)."""
    target = tmp_path_factory.mktemp("alert-lexicons") / "lexicons"
    shutil.copytree(REPO_ROOT / "lexicons", target)
    path = target / "alerts.yaml"
    text = path.read_text(encoding="utf-8")
    assert "agent_flagged_per_day: 5" in text
    path.write_text(text.replace("agent_flagged_per_day: 5", "agent_flagged_per_day: 2"), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def app(
    backend_url: str, tmp_path_factory: pytest.TempPathFactory, rx: Receiver, alert_lexicons: Path
) -> Iterator[TestClient]:
    """An app whose alerts go to the receiver: fast retries, three attempts at most."""
    settings = make_settings(
        tmp_path_factory.mktemp("alerts-app"),
        backend_url,
        lexicon_dir=alert_lexicons,
        alert_targets=json.dumps(targets(rx)),
        alert_retry_base_seconds=0.2,
        alert_max_attempts=3,
        alert_poll_seconds=0.5,
        emotion_enabled=True,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def api(app: TestClient, rx: Receiver) -> Iterator[TestClient]:
    """The app, emptied after each test; the receiver reset before."""
    rx.reset()
    yield app
    factory = app.app.state.session_factory  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the dispatcher done with this test's deliveries before they go
        with session_scope(factory, read_only=True) as s:
            if not s.scalar(select(AlertDelivery.id).where(AlertDelivery.status == "pending").limit(1)):
                break
        time.sleep(0.1)
    with session_scope(app.app.state.session_factory) as s:  # type: ignore[attr-defined]
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))


@pytest.fixture
def hdr(api: TestClient) -> dict[str, dict[str, str]]:
    """Authorization headers per role."""
    out = {}
    with session_scope(api.app.state.session_factory) as s:  # type: ignore[attr-defined]
        for role in ("ingest", "supervisor", "auditor", "admin", "agent"):
            extra: dict[str, Any] = {"agent_id": "a7"} if role == "agent" else {}
            _, key = create_key(s, name=f"alerts-{role}", role=role, **extra)
            out[role] = {"Authorization": f"Bearer {key}"}
    return out


def post(
    api: TestClient, hdr: dict[str, dict[str, str]], ext: str, utts: list[dict[str, Any]], **kw: Any
) -> dict[str, Any]:
    resp = api.post("/v1/conversations", json=transcript(ext, utts, **kw), headers=hdr["ingest"])
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def alerts(api: TestClient, hdr: dict[str, dict[str, str]], **params: Any) -> list[dict[str, Any]]:
    resp = api.get("/v1/alerts", params=params, headers=hdr["supervisor"])
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def settled(
    api: TestClient, hdr: dict[str, dict[str, str]], alert_id: str, timeout: float = 15.0
) -> dict[str, Any]:
    """The alert once no delivery is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        detail = api.get(f"/v1/alerts/{alert_id}", headers=hdr["supervisor"]).json()
        if all(d["status"] != "pending" for d in detail["deliveries"]) or time.monotonic() > deadline:
            return dict(detail)
        time.sleep(0.1)
