"""In transit: `audit serve` over TLS with a self-signed certificate; callbacks refuse plain http:// in production."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from app.auth.service import create_key
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.settings import Settings
from app.webhooks import AllowList, UnsafeCallbackUrl, validate_callback_url
from app.webhooks.guard import UnsafeUrl, check_static
from tests.app.conftest import make_settings
from tests.live_server import REPO_ROOT, free_port


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "audit test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _audit(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "audit"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from app.cli import main; main()", *args]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    """`audit serve --ssl-certfile --ssl-keyfile` on a free port: (base URL, certificate, an admin key)."""
    data_dir = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(data_dir)
    url_db = f"sqlite:///{data_dir / 'audit.db'}"
    upgrade(url_db)
    settings = Settings(data_dir=data_dir, database_url=url_db)
    from app.db.session import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as session:
        _, admin = create_key(session, name="tls-admin", role="admin")
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "AUDIT_DATA_DIR": str(data_dir),
        "AUDIT_DATABASE_URL": url_db,
        "AUDIT_MODEL_DIR": str(REPO_ROOT / "var" / "models"),
        "AUDIT_CALLBACK_SECRET": secrets.token_hex(32),
        "AUDIT_EMOTION_ENABLED": "false",  # TLS is what is tested; no need to load the emotion model
        "PYTHONUNBUFFERED": "1",
    }
    log = (data_dir / "server.log").open("wb")
    command = _audit("serve", "--host", "127.0.0.1", "--port", str(port), "--ssl-certfile", str(cert),
                     "--ssl-keyfile", str(key))  # fmt: skip
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data_dir / "server.log").read_text(errors="replace")[-3000:])
            try:
                if httpx.get(f"{base}/v1/health", verify=ssl.create_default_context(cafile=cert)).is_success:
                    break
            except httpx.HTTPError:
                time.sleep(0.25)
        yield base, cert, admin
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class TestServeOverTls:
    def test_https_with_the_certificate(self, tls_server: tuple[str, Path, str]) -> None:
        base, cert, admin = tls_server
        trusted = ssl.create_default_context(cafile=cert)
        with httpx.Client(base_url=base, verify=trusted) as client:
            assert client.get("/v1/health").status_code == 200
            resp = client.get("/v1/admin/keys", headers={"Authorization": f"Bearer {admin}"})
            assert resp.status_code == 200
            assert [k["name"] for k in resp.json()] == ["tls-admin"]

    def test_untrusted_or_plain_connections_fail(self, tls_server: tuple[str, Path, str]) -> None:
        base, _, _ = tls_server
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/v1/health")  # the system CAs do not vouch for a self-signed certificate
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base.replace('https', 'http')}/v1/health", timeout=5)

    def test_certificate_without_key_is_refused(self, tmp_path: Path) -> None:
        cert, _ = self_signed(tmp_path)
        out = subprocess.run(
            _audit("serve", "--port", str(free_port()), "--ssl-certfile", str(cert)),
            cwd=REPO_ROOT,
            env={**os.environ, "AUDIT_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2
        assert "needs both --ssl-certfile and --ssl-keyfile" in out.stderr


class TestPlainHttpCallbacks:
    def test_default_follows_env(self, tmp_path: Path) -> None:
        assert Settings(data_dir=tmp_path).allow_http_callbacks is True
        assert Settings(data_dir=tmp_path, env="production").allow_http_callbacks is False
        assert Settings(data_dir=tmp_path, env="production", allow_http_callbacks=True).allow_http_callbacks

    def test_guard(self) -> None:
        with pytest.raises(UnsafeUrl, match=r"plain http:// is refused"):
            check_static("http://hooks.example.com/cb", AllowList.parse("", allow_http=False))
        # The allow-list does not make http acceptable: it is about where, this is about how.
        with pytest.raises(UnsafeUrl, match=r"plain http:// is refused"):
            check_static("http://127.0.0.1/cb", AllowList.parse("127.0.0.1", allow_http=False))
        check_static("https://hooks.example.com/cb", AllowList.parse("", allow_http=False))
        check_static("http://hooks.example.com/cb", AllowList.parse(""))

    def test_upload_with_an_http_callback_in_production(self, tmp_path: Path, shared_data: Path) -> None:
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        upgrade(url)
        settings = make_settings(tmp_path, url, emotion_enabled=False, env="production")
        (tmp_path / "master.key").write_text("# test\n" + "A" * 43 + "=\n")  # production never creates one
        with TestClient(create_app(settings)) as client:
            with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
                _, key = create_key(session, name="ingest", role="ingest")
            wav = shared_data / "speech" / "BAC009S0764W0121.wav"
            results = []
            for i, callback in enumerate(["http://hooks.example.com/cb", "https://hooks.example.com/cb"]):
                with wav.open("rb") as fh:
                    resp = client.post(
                        "/v1/conversations/audio",
                        data={
                            "external_id": f"cb-{i}",
                            "agent_id": "a1",
                            "started_at": "2026-11-21T14:00:00+08:00",
                            "channel_layout": "mono",
                            "callback_url": callback,
                        },  # fmt: skip
                        files={"file": (wav.name, fh, "audio/wav")},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                results.append((resp.status_code, resp.json().get("error", {}).get("code")))
        assert results == [(422, "unsafe_callback_url"), (202, None)]
        with pytest.raises(UnsafeCallbackUrl, match="plain http"):
            validate_callback_url(
                "http://hooks.example.com/cb", allowlist=AllowList.parse("", allow_http=False)
            )
