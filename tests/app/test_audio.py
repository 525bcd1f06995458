"""Call recordings through the API: upload, job states, transcript with speaker roles, restart recovery, bad input."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db import Job
from app.db.base import utcnow
from app.db.session import session_scope

pytestmark = pytest.mark.slow

REFS = {"BAC009S0764W0121": "甚至出现交易几乎停滞的情况", "BAC009S0764W0122": "一二线城市虽然也处于调整中"}


def cer(ref: str, hyp: str) -> float:
    """Character error rate (Levenshtein over characters, punctuation removed from the hypothesis)."""
    hyp = "".join(ch for ch in hyp if ch.isalnum())
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i]
        for j, h in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h)))
        prev = cur
    return prev[-1] / len(ref)


@pytest.fixture(scope="module")
def stereo_call(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Agent (left) says W0121 from 0.5 s, customer (right) says W0122 from 6 s: a 11-second stereo call."""
    agent, sr = sf.read(shared_data / "speech" / "BAC009S0764W0121.wav", dtype="float32")
    customer, _ = sf.read(shared_data / "speech" / "BAC009S0764W0122.wav", dtype="float32")
    out = np.zeros((sr * 11, 2), dtype=np.float32)
    out[sr // 2 : sr // 2 + len(agent), 0] = agent
    out[sr * 6 : sr * 6 + len(customer), 1] = customer
    path = tmp_path_factory.mktemp("calls") / "call.wav"
    sf.write(path, out, sr)
    return path


def _upload(client: TestClient, auth: dict[str, dict[str, str]], path: Path, **fields: str) -> Any:
    data = {"external_id": "rec-1", "agent_id": "a9", "started_at": "2026-11-21T14:00:00+08:00",
            "channel_layout": "stereo_agent_left", **fields}  # fmt: skip
    with path.open("rb") as fh:
        return client.post(
            "/v1/conversations/audio",
            data=data,
            files={"file": (path.name, fh, "audio/wav")},
            headers=auth["ingest"],
        )


def _run_jobs(client: TestClient) -> list[str]:
    outcome: list[str] = client.app.state.job_runner.run_pending()  # type: ignore[attr-defined]
    return outcome


class TestStereoCall:
    def test_upload_transcribe_audit(
        self, client: TestClient, auth: dict[str, dict[str, str]], stereo_call: Path
    ) -> None:
        resp = _upload(client, auth, stereo_call)
        assert resp.status_code == 202, resp.text
        accepted = resp.json()
        assert accepted["status"] == "queued"
        job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
        assert (job["status"], job["attempts"]) == ("queued", 0)
        pending = client.get(
            f"/v1/conversations/{accepted['conversation_id']}", headers=auth["auditor"]
        ).json()
        assert (pending["status"], pending["utterances"]) == ("pending_transcription", [])

        assert _run_jobs(client) == ["done"]
        job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
        assert (job["status"], job["progress"], job["attempts"], job["error"]) == ("done", 1.0, 1, None)

        conv = client.get(f"/v1/conversations/{accepted['conversation_id']}", headers=auth["auditor"]).json()
        assert conv["status"] == "analysed"
        assert conv["source"] == "audio"
        assert conv["job_id"] == accepted["job_id"]
        speakers = [u["speaker"] for u in conv["utterances"]]
        assert speakers[0] == "agent"
        assert speakers[-1] == "customer"
        assert set(speakers) == {"agent", "customer"}
        agent_text = "".join(u["text"] for u in conv["utterances"] if u["speaker"] == "agent")
        customer_text = "".join(u["text"] for u in conv["utterances"] if u["speaker"] == "customer")
        assert cer(REFS["BAC009S0764W0121"], agent_text) < 0.35
        assert cer(REFS["BAC009S0764W0122"], customer_text) < 0.35
        first_agent = conv["utterances"][0]
        first_customer = next(u for u in conv["utterances"] if u["speaker"] == "customer")
        assert 0 <= first_agent["start_ms"] < 1500
        assert 5000 <= first_customer["start_ms"] < 7000
        starts = [u["start_ms"] for u in conv["utterances"]]
        assert starts == sorted(starts)
        for f in conv["findings"]:
            if f["utterance_index"] is not None:
                assert f["start_ms"] == conv["utterances"][f["utterance_index"]]["start_ms"]

        audio = client.get(
            f"/v1/conversations/{accepted['conversation_id']}/audio", headers=auth["supervisor"]
        )
        assert audio.status_code == 200
        assert audio.content == stereo_call.read_bytes()
        assert (
            client.get(
                f"/v1/conversations/{accepted['conversation_id']}/audio", headers=auth["ingest"]
            ).status_code
            == 403
        )

        again = _upload(client, auth, stereo_call)
        assert again.status_code == 200
        assert again.json()["job_id"] == accepted["job_id"]
        assert _run_jobs(client) == []

    def test_mono_gives_unknown_speakers(
        self, client: TestClient, auth: dict[str, dict[str, str]], shared_data: Path
    ) -> None:
        resp = _upload(client, auth, shared_data / "speech" / "BAC009S0764W0122.wav", channel_layout="mono")
        assert resp.status_code == 202
        assert _run_jobs(client) == ["done"]
        conv = client.get(
            f"/v1/conversations/{resp.json()['conversation_id']}", headers=auth["auditor"]
        ).json()
        assert {u["speaker"] for u in conv["utterances"]} == {"unknown"}
        assert [f["category"] for f in conv["findings"] if f["kind"] == "service_norm"] == ["not_applicable"]


class TestJobLifecycle:
    def test_restart_recovery(
        self, client: TestClient, auth: dict[str, dict[str, str]], stereo_call: Path
    ) -> None:
        accepted = _upload(client, auth, stereo_call, external_id="rec-crash").json()
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        job_id = uuid.UUID(accepted["job_id"])
        with session_scope(factory) as s:
            # A worker on another machine with a fresh heartbeat is alive: its job is left alone.
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status="transcribing", attempts=1, worker_id="gpu-box:4242:w1", heartbeat_at=utcnow())
            )
        runner = client.app.state.job_runner  # type: ignore[attr-defined]
        assert runner.recover() == 0
        with session_scope(factory) as s:
            # As left by this machine's previous process, killed mid-transcription (that pid no longer exists).
            s.execute(
                update(Job).where(Job.id == job_id).values(worker_id=f"{socket.gethostname()}:999999:dead")
            )
        assert runner.recover() == 1
        assert client.get(accepted["job_url"], headers=auth["ingest"]).json()["status"] == "queued"
        assert _run_jobs(client) == ["done"]
        job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
        assert (job["status"], job["attempts"]) == ("done", 2)

    def test_failed_job_keeps_the_reason(
        self, client: TestClient, auth: dict[str, dict[str, str]], stereo_call: Path
    ) -> None:
        accepted = _upload(client, auth, stereo_call, external_id="rec-lost").json()
        conv = client.get(
            f"/v1/conversations/{accepted['conversation_id']}/audio", headers=auth["supervisor"]
        )
        assert conv.status_code == 200
        stored = next(Path(client.app.state.settings.audio_dir).glob(f"{accepted['conversation_id']}*"))  # type: ignore[attr-defined]
        stored.write_bytes(b"RIFF....garbage")  # the file went bad on disk after upload
        assert _run_jobs(client) == ["failed"]
        job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
        assert job["status"] == "failed"
        assert job["error"].startswith("audio could not be decoded")
        conv_body = client.get(
            f"/v1/conversations/{accepted['conversation_id']}", headers=auth["auditor"]
        ).json()
        assert conv_body["status"] == "failed"
        assert conv_body["analysis_error"] == job["error"]

    def test_signed_callback(
        self, client: TestClient, auth: dict[str, dict[str, str]], stereo_call: Path
    ) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                del args

        server = HTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/hook"
            accepted = _upload(client, auth, stereo_call, external_id="rec-cb", callback_url=url).json()
            assert _run_jobs(client) == ["done"]
        finally:
            server.shutdown()
        assert len(received) == 1
        headers, body = received[0]
        secret = client.app.state.settings.callback_secret  # type: ignore[attr-defined]
        expected = hmac.new(
            secret.encode(), headers["X-Audit-Timestamp"].encode() + b"." + body, hashlib.sha256
        )
        assert headers["X-Audit-Signature"] == f"sha256={expected.hexdigest()}"
        payload = json.loads(body)
        assert (payload["job_id"], payload["status"]) == (accepted["job_id"], "done")
        job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
        assert job["callback_status"] == "delivered"  # coarse on purpose: no port-scan oracle

    def test_retention_deletes_audio_keeps_transcript(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        stereo_call: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        accepted = _upload(client, auth, stereo_call, external_id="rec-old").json()
        assert _run_jobs(client) == ["done"]
        runner = client.app.state.job_runner  # type: ignore[attr-defined]
        monkeypatch.setattr(runner.settings, "audio_retention_days", 0)
        assert runner.purge_audio() == 1
        audio = client.get(
            f"/v1/conversations/{accepted['conversation_id']}/audio", headers=auth["supervisor"]
        )
        assert audio.status_code == 404
        assert audio.json()["error"]["code"] == "audio_deleted"
        conv = client.get(f"/v1/conversations/{accepted['conversation_id']}", headers=auth["auditor"]).json()
        assert conv["utterances"] != []
        assert conv["audio_available"] is False


class TestBadUploads:
    @pytest.fixture
    def files(self, tmp_path: Path, shared_data: Path) -> dict[str, Path]:
        src = (shared_data / "speech" / "BAC009S0764W0121.wav").read_bytes()
        paths = {
            "text": tmp_path / "notes.wav",
            "empty": tmp_path / "empty.wav",
            "truncated": tmp_path / "cut.wav",
        }
        paths["text"].write_text("这不是录音文件", encoding="utf-8")
        paths["empty"].write_bytes(b"")
        paths["truncated"].write_bytes(src[:30])
        paths["mono"] = shared_data / "speech" / "BAC009S0764W0121.wav"
        return paths

    def test_each_bad_upload(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        files: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        cases = [
            ("text", {}, 415, "unsupported_audio"),
            ("truncated", {}, 415, "unsupported_audio"),
            ("empty", {}, 422, "invalid_audio"),
            ("mono", {"channel_layout": "stereo_agent_left"}, 422, "layout_mismatch"),
            ("mono", {"channel_layout": "quad"}, 422, "validation_error"),
            ("mono", {"started_at": "now"}, 422, "validation_error"),
            ("mono", {"callback_url": "ftp://x"}, 422, "validation_error"),
            ("mono", {"callback_url": "http://169.254.169.254/latest"}, 422, "unsafe_callback_url"),
            ("mono", {"callback_url": "http://10.0.0.1/hook"}, 422, "unsafe_callback_url"),
            ("mono", {"callback_url": "http://[::1]:8080/hook"}, 422, "unsafe_callback_url"),
            ("mono", {"callback_url": "http://167772161/hook"}, 422, "unsafe_callback_url"),  # 10.0.0.1
            ("mono", {"callback_url": "http://user:pass@example.com/hook"}, 422, "unsafe_callback_url"),
        ]
        settings = client.app.state.settings  # type: ignore[attr-defined]
        before = set(Path(settings.audio_dir).glob("*"))
        for i, (name, fields, code, error) in enumerate(cases):
            resp = _upload(client, auth, files[name], external_id=f"bad-{i}", **fields)
            assert (resp.status_code, resp.json()["error"]["code"]) == (code, error), (
                name,
                fields,
                resp.text,
            )
        monkeypatch.setattr(settings, "max_audio_bytes", 1000)
        assert (
            _upload(client, auth, files["mono"], external_id="big", channel_layout="mono").status_code == 413
        )
        monkeypatch.setattr(settings, "max_audio_bytes", 10**8)
        monkeypatch.setattr(settings, "max_audio_seconds", 2.0)
        assert (
            _upload(client, auth, files["mono"], external_id="long", channel_layout="mono").status_code == 413
        )
        # Nothing half-written: no conversation, no job, no stored file.
        assert client.get("/v1/conversations", headers=auth["auditor"]).json()["total"] == 0
        assert set(Path(settings.audio_dir).glob("*")) == before


class TestRepost:
    def test_same_file_same_job_other_file_conflict(
        self, client: TestClient, auth: dict[str, dict[str, str]], stereo_call: Path, tmp_path: Path
    ) -> None:
        settings = client.app.state.settings  # type: ignore[attr-defined]
        before = set(Path(settings.audio_dir).glob("*"))
        first = _upload(client, auth, stereo_call, external_id="rec-repost")
        assert first.status_code == 202
        again = _upload(client, auth, stereo_call, external_id="rec-repost")
        assert again.status_code == 200
        assert again.json()["job_id"] == first.json()["job_id"]

        other = tmp_path / "other.wav"
        audio, sr = sf.read(stereo_call, dtype="float32")
        sf.write(other, audio[: len(audio) // 2], sr)
        conflict = _upload(client, auth, other, external_id="rec-repost")
        assert conflict.status_code == 409
        assert conflict.json()["error"]["code"] == "conflict"
        assert conflict.json()["error"]["details"] == {"id": first.json()["conversation_id"]}
        # Nothing of the refused upload is kept; the first job is still the only one.
        added = set(Path(settings.audio_dir).glob("*")) - before
        assert [p.stem for p in added] == [first.json()["conversation_id"]]
        assert client.get("/v1/conversations", headers=auth["auditor"]).json()["total"] == 1


class TestNoSpeech:
    def test_noise_fails_with_no_speech(
        self, client: TestClient, auth: dict[str, dict[str, str]], tmp_path: Path
    ) -> None:
        noise = tmp_path / "noise.wav"
        rng = np.random.default_rng(7)
        sf.write(noise, (rng.standard_normal(16000 * 6) * 0.3).astype(np.float32), 16000)
        accepted = _upload(client, auth, noise, external_id="rec-noise", channel_layout="mono").json()

        assert _run_jobs(client) == ["failed"]

        job = client.get(accepted["job_url"], headers=auth["ingest"]).json()
        assert (job["status"], job["attempts"]) == ("failed", 1)
        assert job["error"].startswith("no_speech")
        conv = client.get(f"/v1/conversations/{accepted['conversation_id']}", headers=auth["auditor"]).json()
        assert (conv["status"], conv["analysis_error"], conv["score"]) == ("failed", job["error"], None)
        assert conv["utterances"] == []
