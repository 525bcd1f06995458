"""Against a real `audit serve`: a key-less or oversize body is refused before it is read, and the access
log holds no query string or text.

Bodies come from generators and go out over a raw socket as fast as the server takes them, so the test
holds none of them in memory and sees exactly when the server stops reading.
"""

from __future__ import annotations

import re
import select
import socket
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories.conversations import transcript, utterance
from tests.live_server import LiveServer, live_server

MiB = 1024 * 1024
AUDIO_LIMIT = 4 * MiB  # the server's max_audio_bytes here, so an over-limit upload is quick to send
JSON_LIMIT = 16 * MiB  # the default max_json_bytes
BOUNDARY = "b0undary"


class Answer:
    """What came back for one pushed request, and how much of its body the server let us send."""

    def __init__(self, raw: bytes, sent: int) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        self.sent = sent

    def json_code(self) -> str:
        return str(httpx.Response(self.status, content=self.body).json()["error"]["code"])


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    match = re.search(rb"content-length:\s*(\d+)", head, flags=re.IGNORECASE)
    return bool(sep) and match is not None and len(body) >= int(match.group(1))


def push(port: int, path: str, headers: dict[str, str], body: Iterable[bytes], timeout: float = 60) -> Answer:
    """POST `body` chunk by chunk, stopping as soon as the server answers or stops taking bytes."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    sock.sendall((head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    sock.setblocking(False)
    chunks: Iterator[bytes] | None = iter(body)
    pending, raw, sent = b"", b"", 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not _complete(raw):
            readable, writable, _ = select.select([sock], [sock] if chunks else [], [], 1.0)
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not data:
                    break
                raw += data
            elif writable and chunks:
                pending = pending or next(chunks, b"")
                if not pending:
                    chunks = None
                    continue
                try:
                    n = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    chunks = None  # the server closed: read what it answered
                    continue
                sent += n
                pending = pending[n:]
    finally:
        sock.close()
    return Answer(raw, sent)


def filler(total: int, prefix: bytes = b"", suffix: bytes = b"", chunk: int = 256 * 1024) -> Iterator[bytes]:
    """`total` bytes: prefix, filler, suffix."""
    yield prefix
    left = total - len(prefix) - len(suffix)
    block = b"a" * chunk
    while left > 0:
        yield block[: min(chunk, left)]
        left -= chunk
    yield suffix


def chunked(parts: Iterable[bytes]) -> Iterator[bytes]:
    """The same bytes with Transfer-Encoding: chunked framing (no Content-Length to check up front)."""
    for part in parts:
        if part:
            yield f"{len(part):x}\r\n".encode() + part + b"\r\n"
    yield b"0\r\n\r\n"


def json_body(total: int) -> Iterator[bytes]:
    return filler(total, b'{"external_id": "big", "utterances": [{"speaker": "customer", "text": "', b'"}]}')


def multipart_body(total: int) -> Iterator[bytes]:
    prefix = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="external_id"\r\n\r\nbig-call\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="call.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return filler(total, prefix, f"\r\n--{BOUNDARY}--\r\n".encode())


JSON = {"Content-Type": "application/json"}
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`audit serve` on SQLite with a small recording limit; the emotion model is not needed here."""
    env = {
        "AUDIT_EMOTION_ENABLED": "false",
        "AUDIT_START_WORKER": "false",
        "AUDIT_MAX_AUDIO_BYTES": str(AUDIO_LIMIT),
    }
    with live_server(data_dir=tmp_path_factory.mktemp("limits"), env=env) as srv:
        yield srv


class TestRefusedBeforeTheBody:
    def test_oversize_bodies_without_a_key_cost_no_memory(self, server: LiveServer) -> None:
        assert server.process is not None
        pid = server.process.pid
        for _ in range(3):  # warm up the code paths, so what follows measures bodies, not first use
            push(server.port, "/v1/conversations", {**JSON, "Content-Length": "2"}, [b"{}"])
            httpx.get(f"{server.url}/v1/health", timeout=5)
        before = rss_bytes(pid)
        cases = [
            ("/v1/conversations", JSON, 150 * MiB, json_body),
            ("/v1/conversations/audio", MULTIPART, 200 * MiB, multipart_body),
        ]
        for path, content_type, size, body in cases:
            for framing in ("content-length", "chunked"):
                if framing == "content-length":
                    headers, parts = {**content_type, "Content-Length": str(size)}, body(size)
                else:
                    headers, parts = {**content_type, "Transfer-Encoding": "chunked"}, chunked(body(size))
                for auth in ({}, {"Authorization": "Bearer qa_not-a-key"}):
                    answer = push(server.port, path, {**headers, **auth}, parts)
                    assert (answer.status, answer.json_code()) == (401, "unauthorized"), (path, framing, auth)
                    assert answer.headers["connection"] == "close"
                    # The server stopped reading at once: what went out fits in the sockets' buffers.
                    assert answer.sent < 16 * MiB, (path, framing, answer.sent)
        grown = rss_bytes(pid) - before
        assert grown < 4 * MiB, f"server RSS grew by {grown / MiB:.1f} MiB"
        assert list((server.data_dir / "audio").glob("**/*.*")) == []

    def test_over_the_limit_with_a_key(self, server: LiveServer) -> None:
        ingest = {"Authorization": f"Bearer {server.create_key('ingest')}"}
        declared = push(
            server.port,
            "/v1/conversations",
            {**JSON, **ingest, "Content-Length": str(150 * MiB)},
            json_body(150 * MiB),
        )
        assert (declared.status, declared.json_code()) == (413, "payload_too_large")
        assert declared.sent < 16 * MiB  # refused on the header, before the body

        streamed = push(
            server.port,
            "/v1/conversations",
            {**JSON, **ingest, "Transfer-Encoding": "chunked"},
            chunked(json_body(150 * MiB)),
        )
        assert (streamed.status, streamed.json_code()) == (413, "payload_too_large")
        assert (
            JSON_LIMIT < streamed.sent < JSON_LIMIT + 16 * MiB
        )  # counted as it came, cut just past the limit

        for headers, parts in (
            ({**MULTIPART, "Content-Length": str(200 * MiB)}, multipart_body(200 * MiB)),
            ({**MULTIPART, "Transfer-Encoding": "chunked"}, chunked(multipart_body(200 * MiB))),
        ):
            upload = push(server.port, "/v1/conversations/audio", {**headers, **ingest}, parts)
            assert (upload.status, upload.json_code()) == (413, "payload_too_large")
            assert upload.sent < AUDIO_LIMIT + 16 * MiB

        # Nothing of any of them was stored, and the server still takes ordinary posts.
        auditor = {"Authorization": f"Bearer {server.create_key('auditor')}"}
        page = httpx.get(f"{server.url}/v1/conversations", headers=auditor, timeout=10).json()
        assert (page["total"], page["items"]) == (0, [])
        assert list((server.data_dir / "audio").glob("**/*.*")) == []
        small = transcript("small", [utterance("customer", "发票开了吗")])
        assert (
            httpx.post(f"{server.url}/v1/conversations", json=small, headers=ingest, timeout=30).status_code
            == 201
        )


class TestAccessLog:
    def test_no_query_string_or_text_in_the_log(self, server: LiveServer) -> None:
        phone = "13911112222"
        ingest = {"Authorization": f"Bearer {server.create_key('ingest')}"}
        auditor = {"Authorization": f"Bearer {server.create_key('auditor')}"}
        payload = transcript("log-1", [utterance("customer", f"我的电话是{phone}，快递到哪了")])
        created = httpx.post(f"{server.url}/v1/conversations", json=payload, headers=ingest, timeout=30)
        assert created.status_code == 201
        found = httpx.get(f"{server.url}/v1/conversations", params={"q": phone}, headers=auditor, timeout=10)
        assert found.status_code == 200
        typo = httpx.get(f"{server.url}/v1/conversations/{phone}", headers=auditor, timeout=10)
        assert typo.status_code == 422
        lost = httpx.get(f"{server.url}/v1/no-such/{phone}", timeout=10)
        assert lost.status_code == 404
        time.sleep(0.5)
        log = server.log_path.read_text(encoding="utf-8")
        assert phone not in log
        assert "快递" not in log
        assert re.search(r"app\.access: POST /v1/conversations 201 \d+\.\dms", log)
        assert re.search(r"app\.access: GET /v1/conversations 200 ", log)
        assert re.search(r"app\.access: GET /v1/conversations/\{conversation_id\} 422 ", log)
        assert re.search(r"app\.access: GET /v1/no-such/#{11} 404 ", log)
