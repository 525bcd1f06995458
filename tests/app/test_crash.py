"""Crash safety: `audit serve` killed with SIGKILL mid-transcription and mid-request, then restarted.

Every conversation must end `analysed`, or `failed` with its reason; every job `done`, or `failed` together
with its conversation. A real uvicorn subprocess on a free port with its own SQLite file and job runner.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.factories.conversations import jddc_sessions, transcript, utterance
from tests.live_server import LiveServer

pytestmark = pytest.mark.slow

BIG = 2000  # utterances in the large POST: the most a transcript may hold


def _rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    # A read-only connection of the test's own, straight on the server's database file.
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def _wait_for(what: str, check: Callable[[], bool], *, timeout: float, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except sqlite3.OperationalError:  # the table is not there yet (server still migrating)
            pass
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    """`audit serve` with the in-process job runner; the emotion model is off to keep restarts quick."""
    live = LiveServer(
        data_dir=tmp_path / "data",
        env={
            "AUDIT_START_WORKER": "true",
            "AUDIT_JOB_POLL_SECONDS": "0.2",
            "AUDIT_EMOTION_ENABLED": "false",
            "AUDIT_WHISPER_THREADS": "2",
        },
    )
    live.start()
    try:
        yield live
    finally:
        live.kill()


@pytest.fixture
def stereo_call(shared_data: Path, tmp_path: Path) -> Path:
    """An 11-second stereo call made of two real recordings (agent left, customer right)."""
    agent, sr = sf.read(shared_data / "speech" / "BAC009S0764W0121.wav", dtype="float32")
    customer, _ = sf.read(shared_data / "speech" / "BAC009S0764W0122.wav", dtype="float32")
    out = np.zeros((sr * 11, 2), dtype=np.float32)
    out[sr // 2 : sr // 2 + len(agent), 0] = agent
    out[sr * 6 : sr * 6 + len(customer), 1] = customer
    path = tmp_path / "call.wav"
    sf.write(path, out, sr)
    return path


def _big_transcript() -> dict[str, Any]:
    texts = [t["text"] for s in jddc_sessions()[:400] for t in s["turns"] if t["text"].strip()]
    utts = [utterance("customer" if i % 2 else "agent", texts[i % len(texts)]) for i in range(BIG)]
    return transcript("crash-big", utts)


def _post_in_background(url: str, key: str, body: dict[str, Any]) -> threading.Thread:
    def post() -> None:
        try:
            httpx.post(
                f"{url}/v1/conversations", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120
            )
        except httpx.HTTPError:
            pass  # the server is killed under it: that is the point

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    return thread


class TestKilledServer:
    def test_every_audit_finishes_after_sigkill(self, server: LiveServer, stereo_call: Path) -> None:
        db = server.data_dir / "audit.db"
        key = server.create_key("ingest")
        headers = {"Authorization": f"Bearer {key}"}

        # 1. Killed mid-transcription.
        with stereo_call.open("rb") as fh:
            accepted = httpx.post(
                f"{server.url}/v1/conversations/audio",
                headers=headers,
                data={
                    "external_id": "crash-call",
                    "agent_id": "a1",
                    "started_at": "2026-11-21T14:00:00+08:00",
                },
                files={"file": ("call.wav", fh, "audio/wav")},
                timeout=60,
            )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"].replace("-", "")
        job_sql = "SELECT status, attempts FROM jobs WHERE replace(id, '-', '') = ?"
        _wait_for(
            "the job to be transcribing",
            lambda: _rows(db, job_sql, job_id)[0][0] == "transcribing",
            timeout=60,
        )
        server.kill()
        assert _rows(db, job_sql, job_id) == [("transcribing", 1)]
        assert _rows(db, "SELECT status FROM conversations WHERE external_id = 'crash-call'") == [
            ("pending_transcription",)
        ]

        # 2. Killed mid-request: the large transcript is stored (`received`) and being audited.
        server.start()
        poster = _post_in_background(server.url, key, _big_transcript())
        big_sql = "SELECT status FROM conversations WHERE external_id = 'crash-big'"
        _wait_for(
            "the large transcript to be stored", lambda: _rows(db, big_sql) != [], timeout=60, poll=0.005
        )
        server.kill()
        poster.join(10)
        assert _rows(db, big_sql) == [("received",)]

        # 3. Restarted: the start-up recovery audits both in the background, and the client's retry of the
        # large POST (same content) is answered with the audited result, not a `received` row without score.
        started = time.monotonic()
        server.start()
        retry = httpx.post(
            f"{server.url}/v1/conversations", json=_big_transcript(), headers=headers, timeout=120
        )
        assert retry.status_code == 200, retry.text
        assert (retry.json()["status"], retry.json()["score"] is not None) == ("analysed", True)
        done_sql = "SELECT count(*) FROM conversations WHERE status IN ('analysed', 'failed')"
        _wait_for("both conversations to end", lambda: _rows(db, done_sql) == [(2,)], timeout=90, poll=0.2)
        _wait_for(
            "the job to end",
            lambda: _rows(db, job_sql, job_id)[0][0] in ("done", "failed"),
            timeout=30,
            poll=0.2,
        )
        recovery_s = time.monotonic() - started

        convs = _rows(
            db, "SELECT external_id, status, analysis_error, score FROM conversations ORDER BY external_id"
        )
        assert [(c[0], c[1]) for c in convs] == [("crash-big", "analysed"), ("crash-call", "analysed")], convs
        assert all(c[2] is None and c[3] is not None for c in convs), convs
        # Attempt 2 after the first kill; 3 if the second kill also caught it transcribing again.
        ((job_status, attempts),) = _rows(db, job_sql, job_id)
        assert (job_status, attempts in (2, 3)) == ("done", True)
        of_big = "JOIN conversations c ON c.id = t.conversation_id WHERE c.external_id = 'crash-big'"
        assert _rows(db, f"SELECT count(*) FROM utterances t {of_big}") == [(BIG,)]
        # Audited by the recovery and the retry at once, recorded once: no finding twice.
        ((findings, positions),) = _rows(
            db, f"SELECT count(*), count(DISTINCT t.position) FROM findings t {of_big}"
        )
        assert findings == positions > 0

        # Read back through the API: the same, complete results.
        auditor = {"Authorization": f"Bearer {server.create_key('auditor')}"}
        conv_url = f"{server.url}/v1/conversations/{accepted.json()['conversation_id']}"
        body = httpx.get(conv_url, headers=auditor, timeout=30).json()
        assert body["status"] == "analysed"
        assert {u["speaker"] for u in body["utterances"]} == {"agent", "customer"}
        assert recovery_s < 90
