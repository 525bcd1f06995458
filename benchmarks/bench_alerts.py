"""Alert delay: from the end of an audit (the conversation's `analysed_at`) to the webhook's receipt.

    .venv/bin/python -m benchmarks.bench_alerts [--n 40] [--clients 2] [--db sqlite|postgres]

Starts a real `audit serve` (real models) whose one alert target is a generic JSON webhook at a listener on
127.0.0.1 (allowed by AUDIT_OUTBOUND_ALLOWLIST; plain http by AUDIT_ALLOW_HTTP_CALLBACKS), posts N
conversations that each raise an alert (a customer threatening 12315) from C client threads, and waits for
every alert at the listener. Prints p50 / p95 / max of receipt time minus `analysed_at` (same machine, same
clock), the target (p95 < 2 s), and as a baseline measured in the same run the same signed POST sent straight
to the listener from this process (the floor any delivery pays). Exit status 1 if an alert is missing or
p95 misses the target. Prints the load average: the 2 CPU cores are shared.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.live_server import LiveServer  # noqa: E402

TARGET_P95_S = 2.0
SECRET = "bench-alert-webhook-secret-0123456789"


class Listener:
    """A webhook receiver on 127.0.0.1 that timestamps every POST on arrival and checks its signature."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # alert id -> receipt time (epoch s)
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                at = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                ts = self.headers.get("X-Audit-Timestamp", "")
                expected = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                doc = json.loads(body)
                with listener.arrived:
                    if self.headers.get("X-Audit-Signature") != f"sha256={expected}":
                        listener.bad_signatures += 1
                    if doc.get("event") == "alert":
                        listener.received.setdefault(doc["alert"]["id"], at)
                    listener.arrived.notify_all()

            def log_message(self, *args: object) -> None:
                del args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> bool:
        """True once `count` alerts arrived."""
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def payload(i: int, run: str) -> dict[str, Any]:
    """A conversation that raises the escalation alert; each its own agent (no agent-day alerts)."""
    return {
        "external_id": f"bench-alert-{run}-{i}",
        "channel": "chat",
        "agent_id": f"bench-{i}",
        "started_at": "2026-11-20T09:30:00+08:00",
        "utterances": [
            {"speaker": "customer", "text": f"第{i}次了，快递还没到，我要打12315投诉你们"},
            {"speaker": "agent", "text": "您好，非常抱歉，我马上为您查询"},
        ],
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def baseline(port: int, n: int) -> list[float]:
    """Seconds for the same signed POST sent straight to the listener (connection per request, as the sender)."""
    body = json.dumps({"event": "baseline"}).encode()
    out = []
    for _ in range(n):
        ts = str(int(time.time()))
        sig = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        started = time.perf_counter()
        with httpx.Client(trust_env=False) as client:
            client.post(
                f"http://127.0.0.1:{port}/hook",
                content=body,
                headers={"X-Audit-Timestamp": ts, "X-Audit-Signature": f"sha256={sig}"},
            )
        out.append(time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=40, help="conversations posted (each raises one alert)")
    parser.add_argument("--clients", type=int, default=2, help="client threads posting at once")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)

    listener = Listener()
    run = str(int(time.time()))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    database_url = None
    if args.db == "postgres":
        from tests.conftest import ensure_postgres

        os.environ.setdefault("AUDIT_TEST_PG_DB", "audit_bench_alerts")
        database_url = ensure_postgres()
        from app.db.migrate import downgrade

        downgrade(database_url, "base")
    target = {
        "name": "bench",
        "kind": "webhook",
        "url": f"http://127.0.0.1:{listener.port}/hook",
        "secret": SECRET,
    }
    env = {
        "AUDIT_ALERT_TARGETS": json.dumps([target]),
        "AUDIT_OUTBOUND_ALLOWLIST": "127.0.0.1",
        "AUDIT_ALLOW_HTTP_CALLBACKS": "true",
        "AUDIT_START_WORKER": "false",
    }
    print(f"load average before: {loadavg()}")
    server = LiveServer(data_dir=data_dir, database_url=database_url, env=env)
    server.start()
    try:
        key = {"Authorization": f"Bearer {server.create_key('ingest')}"}
        sup = {"Authorization": f"Bearer {server.create_key('supervisor')}"}
        with httpx.Client(timeout=120) as warm:  # first audit loads lazily initialised parts: not measured
            warm.post(f"{server.url}/v1/conversations", json=payload(-1, run), headers=key)
        listener.wait(1, 30)
        warmup = set(listener.received)

        def post(i: int) -> int:
            with httpx.Client(timeout=120) as client:
                return client.post(
                    f"{server.url}/v1/conversations", json=payload(i, run), headers=key
                ).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            statuses = list(pool.map(post, range(args.n)))
        posting_s = time.perf_counter() - started
        complete = listener.wait(args.n + len(warmup), 60)
        alerts: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = httpx.get(f"{server.url}/v1/alerts", params=params, headers=sup, timeout=30).json()
            alerts += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        server.stop()
    print(f"load average after:  {loadavg()}")
    floor = baseline(listener.port, 50)
    listener.close()

    measured = [a for a in alerts if a["id"] not in warmup]
    delays = [
        listener.received[a["id"]] - datetime.fromisoformat(a["analysed_at"]).timestamp()
        for a in measured
        if a["id"] in listener.received
    ]
    bad_posts = sum(s != 201 for s in statuses)
    print(
        f"{args.n} conversations from {args.clients} clients in {posting_s:.1f} s ({args.db}); "
        f"{len(measured)} alerts raised, {len(delays)} received, {listener.bad_signatures} bad signatures, "
        f"{bad_posts} posts not 201"
    )
    if not delays:
        print("FAIL: no alert arrived")
        return 1
    p50, p95, worst = pct(delays, 0.5), pct(delays, 0.95), max(delays)
    print(
        f"delay end of audit -> webhook receipt: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {worst * 1000:.0f} ms"
    )
    base = statistics.median(floor)
    print(
        f"baseline, the same signed POST sent directly: p50 {base * 1000:.1f} ms (delay / baseline {p50 / base:.1f}x)"
    )
    ok = (
        complete
        and len(delays) == args.n
        and p95 < TARGET_P95_S
        and bad_posts == 0
        and listener.bad_signatures == 0
    )
    print(f"target p95 < {TARGET_P95_S:.0f} s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
