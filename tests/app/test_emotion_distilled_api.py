"""AUDIT_EMOTION_ENCODER=distilled through the API: the service audits with the 4-layer student, says so in every
emotion version it reports, the abuse head and dissatisfaction model still read its features, and the stored
confidences are calibrated on held-out spoken turns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import Settings
from evaluation.eval_calibration import expected_calibration_error
from tests.app.conftest import make_settings
from tests.factories.conversations import transcript, utterance
from tests.factories.spoken import post_held_out_cped

pytestmark = pytest.mark.slow

COMPLAINT = [
    utterance("customer", "你好，请问我的快递到哪了"),
    utterance("agent", "您好，我帮您查一下"),
    utterance("customer", "一个星期了还不退款，你们这是什么破服务，气死我了！我要投诉！"),
    utterance("agent", "系统显示还在处理"),
    utterance("customer", "算了，太失望了，再也不买了"),
]


@pytest.fixture(scope="module")
def distilled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    data_dir: Path = tmp_path_factory.mktemp("distilled")
    url = f"sqlite:///{data_dir / 'api.db'}"
    upgrade(url)
    app = create_app(make_settings(data_dir, url, emotion_encoder="distilled"))
    with TestClient(app) as client:
        headers = {}
        with session_scope(app.state.session_factory) as s:
            for role in ("ingest", "admin", "auditor"):
                _, key = create_key(s, name=role, role=role)
                headers[role] = {"Authorization": f"Bearer {key}"}
        yield client, headers


def test_versions_name_the_student(distilled: tuple[TestClient, dict[str, dict[str, str]]]) -> None:
    client, auth = distilled
    models = client.get("/v1/admin/health", headers=auth["admin"]).json()["models"]
    assert "-student4-" in models["emotion"]
    assert models["abuse"].startswith("e5s-abuse-")  # its layer check accepted the student's features


def test_conversation_is_audited_with_the_student(
    distilled: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, auth = distilled
    resp = client.post("/v1/conversations", json=transcript("distilled-1", COMPLAINT), headers=auth["ingest"])
    assert resp.status_code == 201, resp.text
    body = resp.json()
    emotions = [u["emotion"] for u in body["utterances"]]
    assert emotions[0] == "neutral"
    assert emotions[2] == "angry"
    assert emotions[4] in {"sad", "angry"}
    assert body["dissatisfaction"] > 0.5
    assert body["flagged"] is True
    stored = client.get(f"/v1/conversations/{body['id']}", headers=auth["auditor"])
    assert stored.status_code == 200, stored.text
    assert [u["emotion"] for u in stored.json()["utterances"]] == emotions


def test_unknown_encoder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_EMOTION_ENCODER", "tiny")
    with pytest.raises(ValidationError, match="emotion_encoder"):
        Settings()
    monkeypatch.setenv("AUDIT_EMOTION_ENCODER", "full")
    assert Settings().emotion_encoder == "full"
    monkeypatch.delenv("AUDIT_EMOTION_ENCODER")  # the tests pin "full"; the service's own default:
    assert Settings().emotion_encoder == "distilled"


def test_stored_confidence_is_calibrated_with_the_student(
    distilled: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    """The one calibration (fitted on the full encoder's output) also serves the student: on held-out CPED
    turns its stored confidence is much closer to how often it is right than the raw one."""
    client, auth = distilled
    posted = post_held_out_cped(client, auth, 240)
    assert [u["emotion"] for u in posted.stored] == [p.label if p else None for p in posted.raw]
    right, conf, raw_conf = posted.right, posted.confidence, posted.raw_confidence
    # Measured with the committed student: ECE 0.150 raw -> 0.042 stored; mean confidence 0.37, 0.35 right.
    assert expected_calibration_error(conf, right) < expected_calibration_error(raw_conf, right) / 2
    assert abs(conf.mean() - right.mean()) < 0.06
