"""Helpers of the alert tests (no tests here): a real HTTP receiver on 127.0.0.1 and four targets at it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

WEBHOOK_SECRET = "alert-webhook-secret-0123456789"
DINGTALK_SECRET = "SEC-dingtalk-secret-abcdef"
FEISHU_SECRET = "feishu-secret-0123456789"
ROBOT_OK = {
    "wecom": {"errcode": 0, "errmsg": "ok"},
    "dingtalk": {"errcode": 0, "errmsg": "ok"},
    "feishu": {"code": 0, "msg": "success"},
}


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; `plan[(kind, about)]` lists answers (status, body) given, before the normal one, to
    requests to `/kind` whose body mentions `about`."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    plan: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, kind: str, query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{kind}{query}"

    def of(self, kind: str, about: str) -> list[Received]:
        """Requests to `/kind` whose body mentions `about` (an external id: earlier tests' sends may trail)."""
        with self.lock:
            return [r for r in self.requests if r.path == f"/{kind}" and about.encode() in r.body]

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.plan.clear()


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A threaded HTTP server on a free loopback port."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            kind = parts.path.strip("/")
            with state.lock:
                state.requests.append(
                    Received(parts.path, parse_qs(parts.query), dict(self.headers), body, time.time())
                )
                planned = next(
                    (v for (k, about), v in state.plan.items() if k == kind and about.encode() in body and v),
                    None,
                )
                status, answer = planned.pop(0) if planned else (200, ROBOT_OK.get(kind, {}))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def targets(rx: Receiver) -> list[dict[str, Any]]:
    """One target of each kind, all at the receiver (robot keys in the URL, as the real ones)."""
    return [
        {"name": "ops-webhook", "kind": "webhook", "url": rx.url("webhook"), "secret": WEBHOOK_SECRET},
        {"name": "wecom-qa", "kind": "wecom", "url": rx.url("wecom", "?key=wecom-key-1")},
        {
            "name": "dingtalk-qa",
            "kind": "dingtalk",
            "url": rx.url("dingtalk", "?access_token=ding-token-1"),
            "secret": DINGTALK_SECRET,
        },
        {"name": "feishu-qa", "kind": "feishu", "url": rx.url("feishu"), "secret": FEISHU_SECRET},
    ]


def webhook_signature_ok(r: Received, secret: str = WEBHOOK_SECRET) -> bool:
    """The generic webhook's HMAC-SHA256 over `timestamp.body`, as a receiver checks it."""
    ts = r.headers["X-Audit-Timestamp"]
    expected = hmac.new(secret.encode(), ts.encode() + b"." + r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(r.headers["X-Audit-Signature"], f"sha256={expected}")


def dingtalk_signature_ok(r: Received, secret: str = DINGTALK_SECRET) -> bool:
    """DingTalk's 加签 check: base64(HMAC-SHA256(secret, timestamp + "\\n" + secret)), ms timestamp, recent."""
    ts = r.query["timestamp"][0]
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    recent = abs(int(ts) / 1000 - time.time()) < 3600
    return recent and r.query["sign"][0] == base64.b64encode(digest).decode()


def feishu_signature_ok(r: Received, secret: str = FEISHU_SECRET) -> bool:
    """Feishu's 签名校验: base64(HMAC-SHA256(key=timestamp + "\\n" + secret, msg="")), s timestamp, recent."""
    doc = r.json()
    ts = doc["timestamp"]
    digest = hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return abs(int(ts) - time.time()) < 3600 and doc["sign"] == base64.b64encode(digest).decode()
