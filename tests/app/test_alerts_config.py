"""Alert configuration: alerts.yaml validated on start-up and on the lexicon reload (the rules in force stay on
a broken file), targets from the environment or a file outside git, bad targets refused without leaking keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.alerts.rules import AlertRulesError
from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from tests.app.conftest import make_settings
from tests.app.test_alerts_support import WEBHOOK_SECRET, Receiver, receiver, webhook_signature_ok
from tests.factories.conversations import transcript, utterance

ESCALATION = [utterance("customer", "我要打12315投诉你们"), utterance("agent", "您好，请稍等")]


@pytest.fixture(scope="module")
def rx() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


class TestConfiguration:
    def test_reload_validates_alerts_yaml_and_keeps_the_rules_in_force(
        self, admin_client: tuple[TestClient, dict[str, str]], lexicon_dir: Path
    ) -> None:
        client, admin = admin_client
        path = lexicon_dir / "alerts.yaml"
        good = path.read_text(encoding="utf-8")
        path.write_text(
            good.replace(
                "severity: 重大\n    findings:\n      kinds", "severity: 超级\n    findings:\n      kinds", 1
            ),
            encoding="utf-8",
        )
        resp = client.post("/v1/admin/lexicons/reload", headers=admin)
        assert resp.status_code == 422
        error = resp.json()["error"]
        assert error["code"] == "invalid_lexicon"
        assert "alerts.yaml: rule 'escalation_threat': `severity`" in error["message"]
        # The rules in force stay: an escalation still raises its alert.
        client.post("/v1/conversations", json=transcript("cfg-1", ESCALATION), headers=admin)
        assert [a["rule"] for a in client.get("/v1/alerts", headers=admin).json()["items"]] == [
            "escalation_threat"
        ]
        # A valid change is in force after the reload.
        path.write_text(
            good.replace("  - id: escalation_threat\n", "  - id: escalation_threat\n    enabled: false\n"),
            encoding="utf-8",
        )
        assert client.post("/v1/admin/lexicons/reload", headers=admin).status_code == 200
        client.post("/v1/conversations", json=transcript("cfg-2", ESCALATION, agent_id="c2"), headers=admin)
        listed = client.get("/v1/alerts", headers=admin).json()["items"]
        assert [(a["rule"], a["external_id"]) for a in listed] == [("escalation_threat", "cfg-1")]

    @pytest.mark.parametrize(
        ("target", "overrides", "message"),
        [
            (
                {"name": "t1", "kind": "webhook", "url": "http://127.0.0.1:9/hook?token=TOPSECRET"},
                {"allow_http_callbacks": False},
                "target 't1': `url` refused: plain http:// is refused",
            ),
            (
                {"name": "t2", "kind": "webhook", "url": "https://10.0.0.7/hook?token=TOPSECRET"},
                {},
                "target 't2': `url` refused: the host is a private address",
            ),
            (
                {"name": "t3", "kind": "slack", "url": "https://example.com/?k=TOPSECRET"},
                {},
                "target 't3': `kind`",
            ),
            (
                {
                    "name": "t4",
                    "kind": "feishu",
                    "url": "https://example.com/h",
                    "secret": "TOPSECRET",
                    "rules": ["nope"],
                },
                {},
                "target 't4': `rules` names rules alerts.yaml does not have: ['nope']",
            ),
        ],
    )
    def test_bad_targets_stop_the_start_up_without_leaking_keys(
        self, tmp_path: Path, target: dict[str, Any], overrides: dict[str, Any], message: str
    ) -> None:
        url = f"sqlite:///{tmp_path / 'bad-targets.db'}"
        upgrade(url)
        settings = make_settings(
            tmp_path, url, alert_targets=json.dumps([target]), emotion_enabled=False, **overrides
        )
        with pytest.raises(AlertRulesError) as exc, TestClient(create_app(settings)):
            pass
        assert message in str(exc.value)
        assert "TOPSECRET" not in str(exc.value)

    def test_targets_from_a_file_outside_git(self, tmp_path: Path, rx: Receiver) -> None:
        url = f"sqlite:///{tmp_path / 'file-targets.db'}"
        upgrade(url)
        (tmp_path / "alert_targets.yaml").write_text(
            "targets:\n"
            f"  - {{name: file-hook, kind: webhook, url: '{rx.url('webhook')}', secret: {WEBHOOK_SECRET}}}\n",
            encoding="utf-8",
        )
        settings = make_settings(tmp_path, url, emotion_enabled=False)
        with TestClient(create_app(settings)) as client:
            with session_scope(client.app.state.session_factory) as s:  # type: ignore[attr-defined]
                _, key = create_key(s, name="file-admin", role="admin")
            headers = {"Authorization": f"Bearer {key}"}
            client.post("/v1/conversations", json=transcript("file-1", ESCALATION), headers=headers)
            (alert,) = client.get("/v1/alerts", headers=headers).json()["items"]
            deadline = time.monotonic() + 10
            while not rx.of("webhook", "file-1") and time.monotonic() < deadline:
                time.sleep(0.05)
            (received,) = rx.of("webhook", "file-1")
            assert webhook_signature_ok(received)
            assert received.json()["alert"]["id"] == alert["id"]
