"""Outbound calls: only public or allow-listed addresses, pinned to the checked address, no redirects, coarse outcome."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.errors import Unprocessable
from app.main import create_app
from app.settings import Settings
from app.webhooks import (
    AllowList,
    DeliveryOutcome,
    UnsafeCallbackUrl,
    send_callback,
    validate_callback_url,
)
from app.webhooks.guard import UnsafeUrl, check_url
from app.webhooks.secret import SECRET_FILE, WeakSecretError, ensure_callback_secret, weakness

SECRET = "outbound-test-secret-0123456789"
UNSAFE = [
    "http://127.0.0.1/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[64:ff9b::a00:1]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://100.64.0.1/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://user:pass@example.com/hook",
    "http://user@example.com/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "http:///hook",
]


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Answer name look-ups from `table` (addresses pass through); returns the names looked up."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host[:1].isdigit() or ":" in host:  # the pinned connection itself: a literal address
            return real(host, port, *args, **kwargs)
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "not known")
        out: list[tuple[Any, ...]] = []
        for ip in table[host]:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sockaddr = (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


class TestGuard:
    @pytest.mark.parametrize("url", UNSAFE)
    def test_refused(self, url: str) -> None:
        with pytest.raises(UnsafeUrl):
            check_url(url, AllowList())

    @pytest.mark.parametrize("url", UNSAFE[:6])
    def test_refused_at_submit_with_a_code(self, url: str) -> None:
        with pytest.raises(UnsafeCallbackUrl) as info:
            validate_callback_url(url, allowlist="")
        assert isinstance(info.value, Unprocessable)
        assert (info.value.status_code, info.value.code) == (422, "unsafe_callback_url")

    def test_public_literal_passes(self) -> None:
        target = check_url("https://93.184.215.14:8443/cb?x=1", AllowList())
        assert (target.host, target.port, [str(a) for a in target.addresses]) == (
            "93.184.215.14",
            8443,
            ["93.184.215.14"],
        )

    def test_names_that_resolve_inside_are_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_dns(monkeypatch, {"inside.example": ["10.1.2.3"], "mixed.example": ["93.184.215.14", "::1"]})
        for url in ("http://inside.example/h", "http://mixed.example/h"):
            with pytest.raises(UnsafeUrl, match="resolves to"):
                check_url(url, AllowList())
            with pytest.raises(UnsafeCallbackUrl):
                validate_callback_url(url, allowlist="")

    def test_unresolvable_passes_submit_but_not_send(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_dns(monkeypatch, {})
        validate_callback_url("http://later.example/h", allowlist="")
        with pytest.raises(UnsafeUrl, match="does not resolve"):
            check_url("http://later.example/h", AllowList())

    def test_allow_list_by_address_network_and_name(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake_dns(monkeypatch, {"hooks.internal": ["10.9.8.7"], "other.internal": ["10.9.8.7"]})
        allow = AllowList.parse(" 127.0.0.1 , 192.168.0.0/16, HOOKS.internal., [::1]")
        for url in (
            "http://127.0.0.1:9/h",
            "http://192.168.4.4/h",
            "http://hooks.internal/h",
            "http://[::1]/h",
        ):
            check_url(url, allow)
        with pytest.raises(UnsafeUrl):
            check_url("http://other.internal/h", allow)
        with pytest.raises(UnsafeUrl):
            check_url("http://127.0.0.2/h", allow)
        with pytest.raises(UnsafeUrl, match="numeric"):
            check_url("http://2130706433/h", allow)  # still refused: write the address out


@dataclass
class Receiver:
    """A local HTTP receiver that records requests and answers with `status` (and `location`)."""

    port: int
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    status: int = 204
    location: str | None = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.path, dict(self.headers), body))
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = HTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _send(url: str, allowlist: str = "127.0.0.1") -> DeliveryOutcome:
    return send_callback(url, b'{"ok": true}', secret=SECRET, timeout=5.0, allowlist=allowlist)


class TestSend:
    def test_delivered_and_signed(self, receiver: Receiver) -> None:
        assert _send(f"http://127.0.0.1:{receiver.port}/hook?k=v") == DeliveryOutcome.DELIVERED
        assert len(receiver.requests) == 1
        path, headers, body = receiver.requests[0]
        assert (path, body) == ("/hook?k=v", b'{"ok": true}')
        expected = hmac.new(
            SECRET.encode(), headers["X-Audit-Timestamp"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        assert headers["X-Audit-Signature"] == f"sha256={expected}"

    def test_not_allow_listed_is_never_called(self, receiver: Receiver) -> None:
        assert _send(f"http://127.0.0.1:{receiver.port}/hook", allowlist="") == DeliveryOutcome.FAILED
        assert receiver.requests == []

    def test_redirect_is_not_followed(self, receiver: Receiver) -> None:
        receiver.status, receiver.location = 307, f"http://127.0.0.1:{receiver.port}/internal"
        assert _send(f"http://127.0.0.1:{receiver.port}/hook") == DeliveryOutcome.FAILED
        assert [r[0] for r in receiver.requests] == ["/hook"]

    def test_outcome_does_not_tell_closed_from_refusing(self, receiver: Receiver) -> None:
        receiver.status = 500
        answered = _send(f"http://127.0.0.1:{receiver.port}/hook")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        closed = _send(f"http://127.0.0.1:{closed_port}/hook")
        assert (answered, closed) == (DeliveryOutcome.FAILED, DeliveryOutcome.FAILED)

    def test_connects_to_the_checked_address(
        self, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The name is resolved once, by the guard; the request goes to that address with the name as Host.
        asked = fake_dns(monkeypatch, {"hooks.test": ["127.0.0.1"]})
        assert _send(f"http://hooks.test:{receiver.port}/hook", allowlist="127.0.0.0/8") == "delivered"
        assert asked == ["hooks.test"]
        assert receiver.requests[0][1]["Host"] == f"hooks.test:{receiver.port}"

    def test_rebinding_to_inside_is_refused_at_send(
        self, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        fake_dns(monkeypatch, {"rebind.test": ["93.184.215.14"]})
        validate_callback_url(f"http://rebind.test:{receiver.port}/hook", allowlist="")
        fake_dns(monkeypatch, {"rebind.test": ["127.0.0.1"]})
        assert _send(f"http://rebind.test:{receiver.port}/hook", allowlist="") == DeliveryOutcome.FAILED
        assert receiver.requests == []


class TestSecret:
    @pytest.mark.parametrize("weak", ["", "change-me", "CHANGE-ME", "short-secret", "a" * 40])
    def test_production_refuses_weak(self, tmp_path: Path, weak: str) -> None:
        settings = Settings(data_dir=tmp_path, env="production", callback_secret=weak)
        with pytest.raises(WeakSecretError, match="AUDIT_CALLBACK_SECRET"):
            ensure_callback_secret(settings)
        assert not (tmp_path / SECRET_FILE).exists()

    def test_production_start_fails_before_loading_anything(self, tmp_path: Path) -> None:
        app = create_app(Settings(data_dir=tmp_path, env="production", start_worker=False))
        with pytest.raises(WeakSecretError), TestClient(app):
            pass

    def test_strong_secret_used_as_is(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path, env="production", callback_secret=SECRET)
        ensure_callback_secret(settings)
        assert settings.callback_secret == SECRET

    def test_development_generates_one_private_file(self, tmp_path: Path) -> None:
        first = Settings(data_dir=tmp_path / "var")
        assert (first.env, first.callback_secret) == ("development", "")  # the embedded defaults
        ensure_callback_secret(first)
        path = tmp_path / "var" / SECRET_FILE
        assert weakness(first.callback_secret) is None
        assert path.read_text(encoding="utf-8").strip() == first.callback_secret
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        second = Settings(data_dir=tmp_path / "var")
        ensure_callback_secret(second)  # the next start (or the worker) signs with the same one
        assert second.callback_secret == first.callback_secret

    def test_development_keeps_an_explicit_weak_secret_with_a_warning(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings = Settings(data_dir=tmp_path, callback_secret="change-me")
        with caplog.at_level(logging.WARNING, logger="app.webhooks.secret"):
            ensure_callback_secret(settings)
        assert settings.callback_secret == "change-me"
        assert "DEVELOPMENT MODE" in caplog.text
