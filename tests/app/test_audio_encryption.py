"""Recordings at rest through the API: stored encrypted, served decrypted, rotation, tampering, wrong keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from app.audio import crypto
from app.audio.keys import MasterKeyError
from app.audio.service import rotate_master_key
from app.audio.store import AudioStore
from app.auth.service import create_key
from app.db import Base, Conversation
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import Settings
from tests.app.conftest import make_settings

CALL = "BAC009S0764W0121.wav"


@pytest.fixture(scope="module")
def enc_client(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app of its own (no emotion model: these tests are about files), with its own key file."""
    data_dir = tmp_path_factory.mktemp("enc") / backend_url.split(":")[0]
    app = create_app(make_settings(data_dir, backend_url, emotion_enabled=False))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(enc_client: TestClient) -> Iterator[TestClient]:
    yield enc_client
    with session_scope(enc_client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
    for path in (settings_of(enc_client).audio_dir or Path("/nonexistent")).glob("*"):
        path.unlink()


@pytest.fixture
def auth(client: TestClient) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        for role in ("ingest", "supervisor", "auditor", "admin"):
            _, key = create_key(session, name=f"enc-{role}", role=role)
            out[role] = {"Authorization": f"Bearer {key}"}
    return out


def upload(client: TestClient, auth: dict[str, dict[str, str]], path: Path, external_id: str) -> Any:
    """Post a mono recording; returns the 202 body."""
    with path.open("rb") as fh:
        resp = client.post(
            "/v1/conversations/audio",
            data={
                "external_id": external_id,
                "agent_id": "a1",
                "started_at": "2026-11-21T14:00:00+08:00",
                "channel_layout": "mono",
            },  # fmt: skip
            files={"file": (path.name, fh, "audio/wav")},
            headers=auth["ingest"],
        )
    assert resp.status_code == 202, resp.text
    return resp.json()


def decoded_samples(path: Path) -> int:
    """Audio samples FFmpeg decodes from the file; 0 where it cannot read it at all."""
    try:
        with av.open(str(path)) as container:
            return sum(frame.samples for frame in container.decode(audio=0))
    except (av.error.FFmpegError, IndexError, ValueError):
        return 0


def settings_of(client: TestClient) -> Settings:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return settings


def stored_file(client: TestClient, conversation_id: str) -> Path:
    audio_dir = settings_of(client).audio_dir
    assert audio_dir is not None
    (path,) = audio_dir.glob(f"{conversation_id}*")
    return path


class TestStoredEncrypted:
    def test_file_on_disk_is_not_audio_but_the_api_serves_it(
        self, client: TestClient, auth: dict[str, dict[str, str]], shared_data: Path
    ) -> None:
        original = shared_data / "speech" / CALL
        accepted = upload(client, auth, original, "enc-1")
        stored = stored_file(client, accepted["conversation_id"])
        raw = stored.read_bytes()
        assert raw[:4] == b"QAEA"
        assert b"RIFF" not in raw[:200]
        assert b"WAVEfmt" not in raw
        with pytest.raises(sf.LibsndfileError):  # not a sound file a player could open
            sf.read(stored)
        # FFmpeg's probing sometimes takes random bytes for some stream (the ciphertext differs every run);
        # whatever it makes of them, it is not the recording.
        assert decoded_samples(stored) != decoded_samples(original)
        header = crypto.Header.parse(raw)
        key_file = settings_of(client).master_key_file
        assert key_file is not None
        assert header.key_id == crypto.key_id(crypto.parse_key(key_file.read_text().splitlines()[-1]))

        url = f"/v1/conversations/{accepted['conversation_id']}/audio"
        resp = client.get(url, headers=auth["supervisor"])
        assert resp.status_code == 200
        assert resp.content == original.read_bytes()
        assert resp.headers["content-type"] == "audio/wav"
        assert resp.headers["accept-ranges"] == "bytes"
        assert int(resp.headers["content-length"]) == original.stat().st_size
        # No plaintext copy is left behind by the upload's probe or the serving.
        assert list((settings_of(client).data_dir / "tmp-audio").iterdir()) == []

    def test_ranges_for_seeking(
        self, client: TestClient, auth: dict[str, dict[str, str]], shared_data: Path
    ) -> None:
        original = (shared_data / "speech" / CALL).read_bytes()
        size = len(original)
        url = f"/v1/conversations/{upload(client, auth, shared_data / 'speech' / CALL, 'enc-r')['conversation_id']}/audio"
        cases = [
            ("bytes=100-199", 206, original[100:200], f"bytes 100-199/{size}"),
            ("bytes=-10", 206, original[-10:], f"bytes {size - 10}-{size - 1}/{size}"),
            (f"bytes={size - 5}-", 206, original[-5:], f"bytes {size - 5}-{size - 1}/{size}"),
            (f"bytes=0-{size * 2}", 206, original, f"bytes 0-{size - 1}/{size}"),
            ("bytes=0-1,5-6", 200, original, None),  # multi-part ranges: the whole file
            ("lines=1-2", 200, original, None),
        ]
        for value, status, body, content_range in cases:
            resp = client.get(url, headers={**auth["auditor"], "Range": value})
            assert (resp.status_code, resp.content, resp.headers.get("content-range")) == (
                status,
                body,
                content_range,
            ), value
        beyond = client.get(url, headers={**auth["auditor"], "Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.json()["error"]["code"] == "range_not_satisfiable"


class TestRotation:
    def test_rotation_rewraps_and_old_recordings_stay_playable(
        self, client: TestClient, auth: dict[str, dict[str, str]], shared_data: Path
    ) -> None:
        settings = settings_of(client)
        original = shared_data / "speech" / CALL
        first = upload(client, auth, original, "rot-1")
        stored = stored_file(client, first["conversation_id"])
        before = stored.read_bytes()

        result = rotate_master_key(settings)
        assert (result.rewrapped, result.failed) == (1, 0)
        after = stored.read_bytes()
        assert after[crypto.HEADER_BYTES :] == before[crypto.HEADER_BYTES :]  # audio not re-encrypted
        assert (
            crypto.Header.parse(after).key_id.hex()
            == result.key_id
            != crypto.Header.parse(before).key_id.hex()
        )
        url = f"/v1/conversations/{first['conversation_id']}/audio"
        assert client.get(url, headers=auth["supervisor"]).content == original.read_bytes()

        # Once everything is re-wrapped the old key may go: recordings still play with the new key alone.
        assert settings.master_key_file is not None
        lines = [ln for ln in settings.master_key_file.read_text().splitlines() if not ln.startswith("#")]
        settings.master_key_file.write_text(lines[-1] + "\n")
        assert client.get(url, headers=auth["supervisor"]).content == original.read_bytes()
        second = upload(client, auth, original, "rot-2")
        assert crypto.Header.parse(
            stored_file(client, second["conversation_id"]).read_bytes()
        ).key_id.hex() == (result.key_id)
        assert rotate_master_key(settings).rewrapped == 2


class TestTampered:
    @pytest.mark.parametrize("damage", ["flip", "truncate", "plain"])
    def test_a_file_that_does_not_verify_is_never_served(
        self, client: TestClient, auth: dict[str, dict[str, str]], shared_data: Path, damage: str
    ) -> None:
        original = shared_data / "speech" / CALL
        accepted = upload(client, auth, original, f"tamper-{damage}")
        stored = stored_file(client, accepted["conversation_id"])
        raw = bytearray(stored.read_bytes())
        if damage == "flip":
            raw[len(raw) // 2] ^= 0x40
        elif damage == "truncate":
            raw = raw[:-1000]
        else:
            raw = bytearray(original.read_bytes())  # someone swapped in a plain file
        stored.write_bytes(bytes(raw))
        url = f"/v1/conversations/{accepted['conversation_id']}/audio"
        for headers in (auth["supervisor"], {**auth["supervisor"], "Range": "bytes=0-99"}):
            resp = client.get(url, headers=headers)
            assert resp.status_code == 500
            assert resp.headers["content-type"] == "application/json"
            assert resp.json()["error"]["code"] == "audio_corrupt"
        # A failed read is not a read: nothing in the access log.
        log = client.get(
            "/v1/admin/access-log",
            params={"conversation_id": accepted["conversation_id"]},
            headers=auth["admin"],
        )
        assert log.json()["total"] == 0


class TestStartUpKey:
    @pytest.fixture
    def stored_app(self, tmp_path: Path, shared_data: Path) -> Settings:
        """A data dir with one recording stored under the key generated on first start."""
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        upgrade(url)
        settings = make_settings(tmp_path, url, emotion_enabled=False)
        with TestClient(create_app(settings)) as client:
            with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
                _, key = create_key(session, name="ingest", role="ingest")
            upload(
                client, {"ingest": {"Authorization": f"Bearer {key}"}}, shared_data / "speech" / CALL, "k-1"
            )
        return settings

    def test_wrong_key_stops_the_start(self, stored_app: Settings) -> None:
        assert stored_app.master_key_file is not None
        stored_app.master_key_file.write_text(crypto.encode_key(crypto.new_key()) + "\n")
        app = create_app(make_settings(stored_app.data_dir, stored_app.database_url, emotion_enabled=False))
        with pytest.raises(MasterKeyError, match="cannot decrypt the stored recordings") as err:
            with TestClient(app):
                pass
        assert "Restore the key file" in str(err.value)

    def test_missing_key_stops_a_production_start(self, stored_app: Settings) -> None:
        assert stored_app.master_key_file is not None
        stored_app.master_key_file.unlink()
        settings = make_settings(
            stored_app.data_dir, stored_app.database_url, emotion_enabled=False, env="production"
        )
        with pytest.raises(MasterKeyError, match="no master key"), TestClient(create_app(settings)):
            pass
        assert not stored_app.master_key_file.exists()

    def test_key_from_the_environment(self, stored_app: Settings, shared_data: Path) -> None:
        assert stored_app.master_key_file is not None
        key = stored_app.master_key_file.read_text().splitlines()[-1]
        stored_app.master_key_file.unlink()
        settings = make_settings(
            stored_app.data_dir,
            stored_app.database_url,
            emotion_enabled=False,
            env="production",
            master_key=key,
        )
        with TestClient(create_app(settings)) as client:
            factory = client.app.state.session_factory  # type: ignore[attr-defined]
            with session_scope(factory) as session:
                _, plain = create_key(session, name="sup", role="supervisor")
                conv_id = session.scalars(select(Conversation.id)).one()
            resp = client.get(
                f"/v1/conversations/{conv_id}/audio", headers={"Authorization": f"Bearer {plain}"}
            )
            assert (resp.status_code, resp.content) == (200, (shared_data / "speech" / CALL).read_bytes())
        assert not stored_app.master_key_file.exists()


class TestCli:
    def test_encrypt_existing_then_rotate(self, tmp_path: Path, shared_data: Path) -> None:
        wav = (shared_data / "speech" / CALL).read_bytes()
        settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'audit.db'}")
        store = AudioStore(settings)
        audio_dir = tmp_path / "audio"
        store.write(audio_dir / "new.wav", wav)
        (audio_dir / "old.wav").write_bytes(wav)  # stored before encryption at rest
        env = {**os.environ, "AUDIT_DATA_DIR": str(tmp_path)}

        def audit(*args: str) -> tuple[int, Any]:
            out = subprocess.run(
                [sys.executable, "-c", "from app.cli import main; main()", "audio", *args],
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            return out.returncode, json.loads(out.stdout) if out.stdout else out.stderr

        first_id = store.ring.current_id.hex()
        assert audit("rewrap") == (1, {"key_id": first_id, "rewrapped": 0, "already_current": 1, "failed": 1})
        code, result = audit("encrypt-existing")
        assert (code, result) == (
            0,
            {"key_id": first_id, "encrypted": 1, "already_encrypted": 1, "failed": 0},
        )
        code, result = audit("rotate-key")
        assert (code, result["rewrapped"], result["already_current"], result["failed"]) == (0, 2, 0, 0)
        assert result["key_id"] != first_id
        rotated = AudioStore(settings)
        for name in ("new.wav", "old.wav"):
            assert crypto.Header.parse((audio_dir / name).read_bytes()).key_id.hex() == result["key_id"]
            assert rotated.read_plain(audio_dir / name) == wav
