"""The distributed topology as processes: `audit serve` with a Redis broker and PostgreSQL, two `audit worker`
processes, one SIGKILLed while it transcribes and a new one started.

Asserts that all 30 jobs end `done`, every conversation's utterances and findings are stored once, and every
callback reaches a listener on 127.0.0.1 exactly once. Redis database 13 (flushed first) and the PostgreSQL
database of AUDIT_TEST_PG_DB. Emotion is off to keep the run short (the `audit` queue still runs every
other text stage).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis
import soundfile as sf
from sqlalchemy import delete, text

from app.db import Base
from app.db.migrate import upgrade
from app.db.session import make_engine, make_session_factory, session_scope
from tests.conftest import ensure_postgres
from tests.live_server import LiveServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REDIS_DB = 13
RECORDINGS = 30
CLIPS_PER_RECORDING = 2


def _ensure_redis() -> redis.Redis:
    """Redis on 127.0.0.1:6379, started here if it is not running; our database emptied."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        subprocess.run(["redis-server", "--port", "6379", "--daemonize", "yes"], check=True)
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
    client.flushdb()
    return client


def _empty(url: str) -> None:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(delete(table))
    finally:
        engine.dispose()


@pytest.fixture
def database() -> Iterator[str]:
    """The PostgreSQL test database, migrated and empty before and after."""
    url = ensure_postgres()
    upgrade(url)
    _empty(url)
    yield url
    _empty(url)


@pytest.fixture
def recordings(shared_data: Path, tmp_path: Path) -> list[Path]:
    """30 distinct mono calls of about 6 s: two AISHELL utterances each, with pauses between them."""
    clips = sorted((shared_data / "speech" / "aishell_dev").glob("*.wav"))
    assert len(clips) >= RECORDINGS * CLIPS_PER_RECORDING
    out = []
    for i in range(RECORDINGS):
        parts = []
        for clip in clips[i * CLIPS_PER_RECORDING : (i + 1) * CLIPS_PER_RECORDING]:
            audio, sr = sf.read(clip, dtype="float32")
            parts += [np.zeros(sr // 2, dtype=np.float32), audio]
        path = tmp_path / f"call-{i:02d}.wav"
        sf.write(path, np.concatenate(parts), sr)
        out.append(path)
    return out


@pytest.fixture
def listener() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A callback receiver on 127.0.0.1: (url, bodies received)."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                received.append(body)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


class WorkerProcess:
    """One `audit worker` subprocess with the API's environment."""

    def __init__(self, env: dict[str, str], log_path: Path, *, metrics_port: int = 0) -> None:
        script = Path(sys.executable).parent / "audit"
        command = [str(script), "worker", "--queues", "asr,audit", "--concurrency", "1"]
        if metrics_port:
            command += ["--metrics-port", str(metrics_port)]
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait(what: str, check: Callable[[], bool], *, timeout: float, poll: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class TestKilledWorker:
    def test_every_job_done_once_after_a_worker_is_killed_mid_transcription(
        self,
        tmp_path: Path,
        database: str,
        recordings: list[Path],
        listener: tuple[str, list[dict[str, Any]]],
    ) -> None:
        _ensure_redis()
        hook, received = listener
        env = {
            "AUDIT_BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "AUDIT_EMOTION_ENABLED": "false",
            "AUDIT_OUTBOUND_ALLOWLIST": "127.0.0.1",
            "AUDIT_WHISPER_THREADS": "1",
            # A killed worker is noticed in seconds here (defaults: a minute).
            "AUDIT_BROKER_HEARTBEAT_TIMEOUT_SECONDS": "5",
            "AUDIT_BROKER_MAINTENANCE_PER_MILLION": "200000",
            "AUDIT_WORKER_HEARTBEAT_SECONDS": "1",
            "AUDIT_WORKER_DEAD_AFTER_SECONDS": "5",
            "AUDIT_JOB_RETRY_MIN_BACKOFF_SECONDS": "1",
            "AUDIT_JOB_RETRY_MAX_BACKOFF_SECONDS": "5",
        }
        api = LiveServer(data_dir=tmp_path / "shared", database_url=database, env=env)
        api.start()
        workers: list[WorkerProcess] = []
        engine = make_engine(database)
        try:
            admin = {"Authorization": f"Bearer {api.create_key('admin')}"}
            ingest = {"Authorization": f"Bearer {api.create_key('ingest')}"}
            metrics_port = free_port()
            workers = [
                WorkerProcess(dict(api.env), tmp_path / "worker-a.log"),
                WorkerProcess(dict(api.env), tmp_path / "worker-b.log", metrics_port=metrics_port),
            ]
            jobs: dict[str, str] = {}  # job id -> external id
            for i, path in enumerate(recordings):
                with path.open("rb") as fh:
                    resp = httpx.post(
                        f"{api.url}/v1/conversations/audio",
                        headers=ingest,
                        data={
                            "external_id": f"dist-{i:02d}",
                            "agent_id": f"a{i % 4}",
                            "started_at": "2026-11-21T14:00:00+08:00",
                            "channel_layout": "mono",
                            "callback_url": hook,
                        },
                        files={"file": (path.name, fh, "audio/wav")},
                        timeout=60,
                    )
                assert resp.status_code == 202, resp.text
                jobs[resp.json()["job_id"]] = f"dist-{i:02d}"

            # Kill worker A while it is transcribing one of the jobs.
            victim = workers[0]

            def victim_transcribing() -> bool:
                with engine.connect() as conn:
                    held = conn.execute(
                        text("SELECT count(*) FROM jobs WHERE status = 'transcribing' AND worker_id LIKE :w"),
                        {"w": f"%:{victim.pid}:%"},
                    ).scalar_one()
                return bool(held)

            _wait("worker A to be transcribing", victim_transcribing, timeout=180, poll=0.02)
            victim.kill()
            with engine.connect() as conn:
                (killed_job,) = conn.execute(
                    text("SELECT id FROM jobs WHERE status = 'transcribing' AND worker_id LIKE :w"),
                    {"w": f"%:{victim.pid}:%"},
                ).one()
            workers.append(WorkerProcess(dict(api.env), tmp_path / "worker-c.log"))

            def all_done() -> bool:
                page = httpx.get(f"{api.url}/v1/jobs", params={"status": "done", "limit": 1}, headers=admin)
                return bool(page.json()["total"] == RECORDINGS)

            _wait("all 30 jobs to be done", all_done, timeout=360, poll=1.0)
            _wait("all 30 callbacks", lambda: len(received) >= RECORDINGS, timeout=30, poll=0.2)
            time.sleep(2)  # a late duplicate callback would arrive now

            # Every job done, listed for admins; the killed one took a second attempt.
            listed: list[dict[str, Any]] = []
            cursor = None
            while True:
                params: dict[str, str | int] = {"status": "done", "limit": 7}
                if cursor:
                    params["cursor"] = cursor
                page = httpx.get(f"{api.url}/v1/jobs", params=params, headers=admin).json()
                listed += page["items"]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert sorted(j["id"] for j in listed) == sorted(jobs)
            assert {j["callback_status"] for j in listed} == {"delivered"}
            attempts = {j["id"].replace("-", ""): j["attempts"] for j in listed}
            assert attempts[str(killed_job).replace("-", "")] == 2
            assert (
                httpx.get(f"{api.url}/v1/jobs", params={"status": "failed"}, headers=admin).json()["total"]
                == 0
            )

            # Each callback exactly once.
            assert sorted(r["job_id"] for r in received) == sorted(jobs)
            assert {r["status"] for r in received} == {"done"}

            # Utterances and findings stored once per conversation.
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT c.external_id, c.status,"
                        " (SELECT count(*) FROM utterances u WHERE u.conversation_id = c.id),"
                        " (SELECT count(DISTINCT (u.start_ms, u.text)) FROM utterances u"
                        "   WHERE u.conversation_id = c.id),"
                        " (SELECT count(*) FROM findings f WHERE f.conversation_id = c.id),"
                        " (SELECT count(DISTINCT (f.kind, f.category, f.rule, f.utterance_index, f.start))"
                        "   FROM findings f WHERE f.conversation_id = c.id)"
                        " FROM conversations c ORDER BY c.external_id"
                    )
                ).all()
            assert [r[0] for r in rows] == sorted(jobs.values())
            assert {r[1] for r in rows} == {"analysed"}
            assert all(r[2] == r[3] > 0 for r in rows), rows  # no utterance twice
            assert all(r[4] == r[5] for r in rows), rows  # no finding twice

            # Observability: the API ran no task (no Whisper there); the worker counted its audio.
            api_metrics = httpx.get(f"{api.url}/metrics", headers=admin).text
            assert f'audit_jobs{{status="done"}} {RECORDINGS}.0' in api_metrics
            assert 'audit_queue_depth{queue="asr"}' in api_metrics
            assert "audit_tasks_total{" not in api_metrics
            worker_metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            transcribed = next(
                float(line.split()[1])
                for line in worker_metrics.splitlines()
                if line.startswith("audit_audio_seconds_transcribed_total ")
            )
            assert transcribed > 0
            health = httpx.get(f"{api.url}/v1/admin/health", headers=admin).json()
            assert health["queue"]["broker"] == "redis"
            live_pids = {w["worker_id"].split(":")[1] for w in health["queue"]["workers"]}
            assert str(victim.pid) not in live_pids
            assert {str(workers[1].pid), str(workers[2].pid)} <= live_pids
        finally:
            for worker in workers:
                worker.stop()
            api.stop()
            engine.dispose()
            for log in sorted(tmp_path.glob("*.log")):
                sys.stderr.write(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}\n")
            if os.environ.get("AUDIT_KEEP_LOGS"):
                sys.stderr.write((tmp_path / "shared" / "server.log").read_text(errors="replace")[-3000:])
