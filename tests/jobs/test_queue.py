"""The embedded default on Dramatiq's in-process broker, through the HTTP API: retries with backoff end in a
failure visible on the job and its conversation; a redelivered task changes nothing; the admin job list."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.service import create_key
from app.db import Finding, Utterance
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT, Settings

pytestmark = pytest.mark.slow


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        model_dir=REPO_ROOT / "var" / "models",
        start_worker=False,
        emotion_enabled=False,
        callback_secret="test-callback-secret-0123456789",
        outbound_allowlist="127.0.0.1",
        job_retry_min_backoff_seconds=0.01,
        job_retry_max_backoff_seconds=0.05,
        **overrides,
    )


@contextmanager
def _client(settings: Settings) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    upgrade(settings.database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        headers = {}
        with session_scope(app.state.session_factory) as s:
            for role in ("ingest", "admin"):
                _, key = create_key(s, name=f"t-{role}", role=role)
                headers[role] = {"Authorization": f"Bearer {key}"}
        yield client, headers


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A callback receiver on loopback: (url, bodies received)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def _upload(client: TestClient, headers: dict[str, str], path: Path, external_id: str, hook: str) -> Any:
    with path.open("rb") as fh:
        resp = client.post(
            "/v1/conversations/audio",
            headers=headers,
            data={
                "external_id": external_id,
                "agent_id": "a1",
                "started_at": "2026-11-21T14:00:00+08:00",
                "channel_layout": "mono",
                "callback_url": hook,
            },
            files={"file": (path.name, fh, "audio/wav")},
        )
    assert resp.status_code == 202, resp.text
    return resp.json()


def _metric(client: TestClient, headers: dict[str, str], line_start: str) -> float:
    text = client.get("/metrics", headers=headers).text
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(line_start)), 0.0)


def _stored(client: TestClient, conv_id: uuid.UUID) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The conversation's utterance and finding rows (ids included: a rewrite would change them)."""
    with session_scope(client.app.state.session_factory, read_only=True) as s:  # type: ignore[attr-defined]
        utts = s.execute(
            select(Utterance.id, Utterance.index, Utterance.text).where(Utterance.conversation_id == conv_id)
        ).all()
        finds = s.execute(
            select(Finding.id, Finding.position).where(Finding.conversation_id == conv_id)
        ).all()
    return [tuple(r) for r in utts], [tuple(r) for r in finds]


class TestRetriesThenFailure:
    def test_model_that_cannot_load_fails_the_job_after_its_attempts(
        self, tmp_path: Path, shared_data: Path, receiver: tuple[str, list[dict[str, Any]]]
    ) -> None:
        hook, received = receiver
        # No Whisper model where it is looked for: every attempt fails (a transient-looking error: retried).
        settings = _settings(tmp_path, whisper_model_dir=tmp_path / "no-model", job_max_attempts=3)
        with _client(settings) as (client, auth):
            retries = 'audit_tasks_total{outcome="retry",queue="asr"}'
            before = _metric(client, auth["admin"], retries)
            clip = shared_data / "speech" / "BAC009S0764W0121.wav"
            accepted = _upload(client, auth["ingest"], clip, "rec-no-model", hook)

            assert client.app.state.job_runner.run_pending() == ["failed"]  # type: ignore[attr-defined]

            job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
            assert (job["status"], job["attempts"], job["max_attempts"]) == ("failed", 3, 3)
            assert job["error"].startswith("transcription failed: WhisperModelError")
            conv = client.get(
                f"/v1/conversations/{accepted['conversation_id']}", headers=auth["admin"]
            ).json()
            assert (conv["status"], conv["analysis_error"]) == ("failed", job["error"])
            # Two redeliveries after a backoff (Dramatiq's Retries), then the third attempt ended it.
            assert _metric(client, auth["admin"], retries) - before == 2
            assert [(r["job_id"], r["status"]) for r in received] == [(accepted["job_id"], "failed")]

            failed = client.get("/v1/jobs", params={"status": "failed"}, headers=auth["admin"]).json()
            assert ([j["id"] for j in failed["items"]], failed["total"]) == ([accepted["job_id"]], 1)
            assert (
                client.get("/v1/jobs", params={"status": "done"}, headers=auth["admin"]).json()["total"] == 0
            )
            assert 'audit_jobs{status="failed"} 1.0' in client.get("/metrics", headers=auth["admin"]).text


class TestRedelivery:
    def test_duplicate_tasks_change_nothing(
        self, tmp_path: Path, shared_data: Path, receiver: tuple[str, list[dict[str, Any]]]
    ) -> None:
        hook, received = receiver
        with _client(_settings(tmp_path)) as (client, auth):
            runner = client.app.state.job_runner  # type: ignore[attr-defined]
            clip = shared_data / "speech" / "BAC009S0764W0122.wav"
            accepted = _upload(client, auth["ingest"], clip, "rec-twice", hook)
            assert runner.run_pending() == ["done"]
            conv_id = uuid.UUID(accepted["conversation_id"])

            first = _stored(client, conv_id)
            assert first[0] != []
            # Both tasks delivered again, as Redis does when it takes a live worker for dead.
            job_id = uuid.UUID(accepted["job_id"])
            runner.queue.send_transcription(job_id)
            runner.queue.send_audit(job_id, 1)
            assert runner.run_pending() == []

            assert _stored(client, conv_id) == first  # the same rows, not rewritten ones
            job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
            assert (job["status"], job["attempts"], job["callback_status"]) == ("done", 1, "delivered")
            assert [r["job_id"] for r in received] == [accepted["job_id"]]


class TestJobList:
    def test_filters_pages_and_refuses_bad_input(self, tmp_path: Path, shared_data: Path) -> None:
        with _client(_settings(tmp_path)) as (client, auth):
            clip = shared_data / "speech" / "BAC009S0764W0121.wav"
            ids = [
                _upload(client, auth["ingest"], clip, f"rec-{i}", "http://127.0.0.1:9/x")["job_id"]
                for i in range(3)
            ]
            seen, cursor = [], None
            while True:
                params: dict[str, Any] = {"status": "queued", "limit": 2}
                if cursor:
                    params["cursor"] = cursor
                page = client.get("/v1/jobs", params=params, headers=auth["admin"]).json()
                assert page["total"] == 3
                seen += [j["id"] for j in page["items"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert seen == ids[::-1]  # newest first
            bad = client.get("/v1/jobs", params={"status": "lost"}, headers=auth["admin"])
            assert bad.status_code == 422
            cursor_resp = client.get("/v1/jobs", params={"cursor": "nope"}, headers=auth["admin"])
            assert (cursor_resp.status_code, cursor_resp.json()["error"]["code"]) == (400, "invalid_cursor")
            assert client.get("/v1/jobs", headers=auth["ingest"]).status_code == 403
            health = client.get("/v1/admin/health", headers=auth["admin"]).json()
            assert health["queue"]["broker"] == "in-process"
            assert health["queue"]["depth"] == {"asr": 3, "audit": 0}
