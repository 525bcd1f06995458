"""Concurrent load against a live `audit serve`, then a check that nothing was lost, duplicated or stuck.

    .venv/bin/python -m benchmarks.bench_load [--db sqlite|postgres] [--clients 8] [--duration 60] [--batch 50]
    .venv/bin/python -m benchmarks.bench_load --url http://host:port --ingest-key K --supervisor-key K --auditor-key K

N client threads mix single posts, re-posts, batches of real JDDC sessions, searches (supervisor queue, keyword,
substring) and reviews for D seconds. Without `--url` the script starts `audit serve` itself (real models) on
a fresh SQLite file or PostgreSQL database. It prints requests, errors by status, p50/p95/p99 latency per
kind and conversations/s, then checks through the API (and in the database when it knows it): every
acknowledged conversation retrievable and `analysed`, none duplicated, none left `received`. Exit status 1
if any check fails (any 5xx or other unexpected status, lost, stuck, duplicated, not analysed).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT.parent / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl"
# Relative weights of the operations each client picks from.
MIX = {"post": 30, "repost": 5, "batch": 10, "queue": 15, "keyword": 15, "q": 10, "review": 15}
# The answers each kind expects. `race`: every client posts the same transcript at the same moment (not in
# the mix; the CI test starts with it): one is created (201), the others get it back (200).
EXPECTED = {
    "post": {201},
    "repost": {200},
    "race": {200, 201},
    "batch": {200},
    "queue": {200},
    "keyword": {200},
    "q": {200},
    "review": {200},
}
KEYWORDS = ["快递", "退款", "发票", "订单", "售后", "价格"]


@dataclass(frozen=True)
class Keys:
    """API keys for the roles the load uses."""

    ingest: str
    supervisor: str
    auditor: str


@dataclass
class LoadReport:
    """What the clients saw."""

    run_id: str
    agent_id: str
    seconds: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    acknowledged: dict[str, uuid.UUID] = field(default_factory=dict)  # external_id -> id, from 2xx answers
    created: int = 0  # conversations answered as newly created
    unexpected: list[str] = field(default_factory=list)  # first few unexpected answers, for the report

    @property
    def errors(self) -> Counter[tuple[str, int]]:
        """(kind, status) of every answer other than the expected one (status 0: no answer)."""
        return Counter({k: n for k, n in self.statuses.items() if k[1] not in EXPECTED[k[0]]})

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status, or none at all."""
        return sum(n for (_, status), n in self.statuses.items() if status >= 500 or status == 0)


@dataclass
class CheckReport:
    """What the service holds after the load."""

    acknowledged: int = 0
    lost: int = 0  # acknowledged, but GET by id does not find it
    not_analysed: Counter[str] = field(default_factory=Counter)  # status -> count among the acknowledged
    stored: int = 0  # conversations of this run the service holds
    duplicated: int = 0  # stored rows beyond one per external_id
    stuck: int = 0  # left `received`
    database: dict[str, int] | None = None  # the same counted in the database, when known

    @property
    def ok(self) -> bool:
        """Zero lost, zero stuck, zero duplicated, all analysed, and the database agrees."""
        db_ok = self.database is None or (
            self.database["duplicated"] == 0
            and self.database["received"] == 0
            and self.database["stored"] == self.acknowledged
        )
        return (
            self.lost == 0
            and not self.not_analysed
            and self.duplicated == 0
            and self.stuck == 0
            and self.stored == self.acknowledged
            and db_ok
        )


def load_sessions(limit: int | None = None) -> list[list[dict[str, str]]]:
    """Real JDDC sessions as utterance lists (empty turns dropped, as `bench_pipeline` does)."""
    out = []
    for line in DATA.open(encoding="utf-8"):
        if not line.strip():
            continue
        turns = [
            {"speaker": t["role"], "text": t["text"]}
            for t in json.loads(line)["turns"]
            if str(t["text"]).strip()
        ]
        if turns:
            out.append(turns)
        if limit and len(out) >= limit:
            break
    return out


class _Client:
    """One simulated client: its own connection, its own random sequence of operations."""

    def __init__(
        self,
        *,
        url: str,
        keys: Keys,
        report: LoadReport,
        lock: threading.Lock,
        sessions: list[list[dict[str, str]]],
        batch: int,
        number: int,
    ) -> None:
        self.http = httpx.Client(base_url=url, timeout=300)
        self.keys = keys
        self.report = report
        self.lock = lock
        self.sessions = sessions
        self.batch = batch
        self.number = number
        self.rng = random.Random(number)
        self.seq = 0
        self.posted: list[dict[str, Any]] = []

    def _payload(self) -> dict[str, Any]:
        self.seq += 1
        return {
            "external_id": f"{self.report.run_id}-{self.number}-{self.seq}",
            "channel": "chat",
            "agent_id": self.report.agent_id,
            "started_at": "2026-11-20T09:30:00+08:00",
            "utterances": self.rng.choice(self.sessions),
        }

    def _auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self.keys, role)}"}

    def _call(self, kind: str, method: str, path: str, role: str, **kw: Any) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            resp: httpx.Response | None = self.http.request(method, path, headers=self._auth(role), **kw)
        except httpx.HTTPError as exc:
            resp = None
            detail = f"{kind}: {type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - t0
        status = resp.status_code if resp is not None else 0
        with self.lock:
            self.report.requests[kind] += 1
            self.report.statuses[(kind, status)] += 1
            self.report.latencies[kind].append(elapsed)
            if status not in EXPECTED[kind] and len(self.report.unexpected) < 20:
                self.report.unexpected.append(
                    f"{kind} {status}: {resp.text[:300]}" if resp is not None else detail
                )
        return resp

    def _acknowledge(self, pairs: list[tuple[str, str]], created: int) -> None:
        with self.lock:
            for external_id, conv_id in pairs:
                self.report.acknowledged[external_id] = uuid.UUID(conv_id)
            self.report.created += created

    def step(self, kind: str | None = None) -> None:
        """Run one operation: `kind`, or one picked at random by the mix."""
        kind = kind or self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "repost" and not self.posted:
            kind = "post"
        if kind == "review" and not self.report.acknowledged:
            kind = "queue"
        if kind == "post":
            payload = self._payload()
            resp = self._call("post", "POST", "/v1/conversations", "ingest", json=payload)
            if resp is not None and resp.status_code == 201:
                self.posted.append(payload)
                self._acknowledge([(payload["external_id"], resp.json()["id"])], 1)
        elif kind == "race":
            payload = {
                **self._payload(),
                "external_id": f"{self.report.run_id}-race",
                "utterances": self.sessions[0],
            }
            resp = self._call("race", "POST", "/v1/conversations", "ingest", json=payload)
            if resp is not None and resp.status_code in EXPECTED["race"]:
                self._acknowledge([(payload["external_id"], resp.json()["id"])], int(resp.status_code == 201))
        elif kind == "repost":
            payload = self.rng.choice(self.posted)
            resp = self._call("repost", "POST", "/v1/conversations", "ingest", json=payload)
            if resp is not None and resp.status_code == 200:
                self._acknowledge([(payload["external_id"], resp.json()["id"])], 0)
        elif kind == "batch":
            items = [self._payload() for _ in range(self.batch)]
            resp = self._call(
                "batch", "POST", "/v1/conversations/batch", "ingest", json={"conversations": items}
            )
            if resp is not None and resp.status_code == 200:
                body = resp.json()
                done = [(r["external_id"], r["id"]) for r in body["results"] if r["status"] != "error"]
                self._acknowledge(done, body["created"])
                if body["created"] != len(items):
                    with self.lock:
                        self.report.statuses[("batch", 207)] += 1  # counted as an error: items refused
                        self.report.unexpected.append(f"batch items refused: {json.dumps(body)[:300]}")
        elif kind == "queue":
            params = {"flagged": "true", "review_status": "unreviewed", "limit": 20}
            self._call("queue", "GET", "/v1/conversations", "supervisor", params=params)
        elif kind == "keyword":
            params = {"keyword": self.rng.choice(KEYWORDS), "limit": 20}
            self._call("keyword", "GET", "/v1/conversations", "auditor", params=params)
        elif kind == "q":
            self._call("q", "GET", "/v1/conversations", "auditor", params={"q": self.rng.choice(KEYWORDS)})
        else:
            with self.lock:
                conv_id = self.rng.choice(list(self.report.acknowledged.values()))
            body = {"status": self.rng.choice(["reviewed", "dismissed"]), "note": "load test"}
            self._call("review", "POST", f"/v1/conversations/{conv_id}/review", "supervisor", json=body)


def run_load(
    url: str,
    keys: Keys,
    *,
    clients: int = 8,
    duration: float = 60.0,
    batch: int = 50,
    seed: int = 0,
    script: Sequence[str] | None = None,
) -> LoadReport:
    """Run `clients` threads for `duration` seconds (requests in flight then finish); returns what they saw.

    With `script` (operation kinds, as in `MIX`), every client instead runs exactly that sequence once,
    all starting at the same moment: a load whose counts are known in advance (the CI test).
    """
    run_id = f"load-{uuid.uuid4().hex[:8]}"
    report = LoadReport(run_id=run_id, agent_id=run_id)
    sessions = load_sessions()
    lock = threading.Lock()
    start = threading.Barrier(clients)
    deadline = time.monotonic() + duration

    def client(number: int) -> None:
        c = _Client(
            url=url,
            keys=keys,
            report=report,
            lock=lock,
            sessions=sessions,
            batch=batch,
            number=seed * 1000 + number,
        )
        with c.http:
            start.wait()
            if script is not None:
                for kind in script:
                    c.step(kind)
                return
            while time.monotonic() < deadline:
                c.step()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client, n) for n in range(clients)]:
            f.result()
    report.seconds = time.perf_counter() - t0
    return report


def check(url: str, keys: Keys, report: LoadReport, *, database_url: str | None = None) -> CheckReport:
    """Every acknowledged conversation retrievable and analysed, none duplicated, none left `received`."""
    out = CheckReport(acknowledged=len(report.acknowledged))
    auth = {"Authorization": f"Bearer {keys.auditor}"}
    with httpx.Client(base_url=url, timeout=60, headers=auth) as http:

        def get(conv_id: uuid.UUID) -> str | None:
            resp = http.get(f"/v1/conversations/{conv_id}")
            return str(resp.json()["status"]) if resp.status_code == 200 else None

        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(get, report.acknowledged.values()))
        out.lost = sum(s is None for s in statuses)
        out.not_analysed = Counter(s for s in statuses if s is not None and s != "analysed")

        def total(**params: str) -> int:
            resp = http.get("/v1/conversations", params={"agent_id": report.agent_id, "limit": "1", **params})
            resp.raise_for_status()
            return int(resp.json()["total"])

        out.stored = total()
        out.stuck = total(status="received")
        # The service holds one row per external_id (a unique index): more rows than acknowledged ids means
        # a duplicate or an unacknowledged store; both fail the check through `stored`.
        out.duplicated = max(0, out.stored - len(report.acknowledged))
    if database_url:
        out.database = _count_in_database(database_url, report.agent_id)
    return out


def _count_in_database(database_url: str, agent_id: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT external_id),"
                    " sum(CASE WHEN status = 'received' THEN 1 ELSE 0 END),"
                    " (SELECT count(*) FROM conversations WHERE status = 'received')"
                    " FROM conversations WHERE agent_id = :agent"
                ),
                {"agent": agent_id},
            ).one()
    finally:
        engine.dispose()
    return {
        "stored": int(row[0]),
        "duplicated": int(row[0]) - int(row[1]),
        "received": int(row[2] or 0),
        "received_any_run": int(row[3]),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def format_report(report: LoadReport, result: CheckReport) -> str:
    """The printed summary."""
    lines = [
        f"run {report.run_id}: {sum(report.requests.values())} requests in {report.seconds:.1f} s, "
        f"{report.created} conversations created ({report.created / report.seconds:.2f} conv/s)",
        f"{'kind':8s} {'requests':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}  statuses",
    ]
    for kind in MIX:
        lat = report.latencies.get(kind, [])
        statuses = ", ".join(f"{s}: {n}" for (k, s), n in sorted(report.statuses.items()) if k == kind)
        lines.append(
            f"{kind:8s} {report.requests[kind]:8d} {_quantile(lat, 0.5) * 1e3:8.0f} "
            f"{_quantile(lat, 0.95) * 1e3:8.0f} {_quantile(lat, 0.99) * 1e3:8.0f}  {statuses}"
        )
    errors = ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(report.errors.items())) or "none"
    lines += [
        f"errors by status: {errors}; 5xx or no answer: {report.server_errors}",
        f"check: acknowledged {result.acknowledged}, stored {result.stored}, lost {result.lost}, "
        f"stuck (received) {result.stuck}, duplicated {result.duplicated}, "
        f"not analysed {dict(result.not_analysed) or 0}",
    ]
    if result.database is not None:
        lines.append(f"database: {result.database}")
    lines += [f"  unexpected: {u}" for u in report.unexpected[:10]]
    passed = result.ok and not report.errors
    lines.append("PASS" if passed else "FAIL")
    return "\n".join(lines)


@contextmanager
def started_server(
    db: str, data_dir: Path, *, postgres_name: str | None = None
) -> Iterator[tuple[str, Keys, str]]:
    """A fresh `audit serve` on SQLite or on a new PostgreSQL database: (url, keys, database_url).

    The PostgreSQL database (`postgres_name`, default a random one) is created empty and dropped after.
    """
    from tests.live_server import live_server

    database_url = None
    if db == "postgres":
        database_url = fresh_postgres_database(postgres_name or f"audit_load_{uuid.uuid4().hex[:8]}")
    try:
        with live_server(data_dir=data_dir, database_url=database_url) as server:
            keys = Keys(*(server.create_key(role) for role in ("ingest", "supervisor", "auditor")))
            yield server.url, keys, server.database_url
    finally:
        if database_url:
            drop_postgres_database(database_url)


def _admin_url() -> str:
    return "postgresql://postgres@127.0.0.1:5432/postgres"


def fresh_postgres_database(name: str) -> str:
    """Create an empty PostgreSQL database on the local server; returns its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_postgres_database(database_url: str) -> None:
    """Drop a database made by `fresh_postgres_database`."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_url(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    """Command line: start (or use) a server, run the load, check, print; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--batch", type=int, default=50, help="conversations per batch (at most 100)")
    parser.add_argument("--url", help="an existing server instead of starting one")
    parser.add_argument("--ingest-key")
    parser.add_argument("--supervisor-key")
    parser.add_argument("--auditor-key")
    parser.add_argument("--database-url", help="with --url: also count in this database")
    args = parser.parse_args()

    def run(url: str, keys: Keys, database_url: str | None) -> bool:
        report = run_load(url, keys, clients=args.clients, duration=args.duration, batch=args.batch)
        result = check(url, keys, report, database_url=database_url)
        print(f"{args.clients} clients, {args.duration:.0f} s, batches of {args.batch}, database: {args.db}")
        print(format_report(report, result))
        return result.ok and not report.errors

    if args.url:
        if not (args.ingest_key and args.supervisor_key and args.auditor_key):
            parser.error("--url needs --ingest-key, --supervisor-key and --auditor-key")
        ok = run(args.url, Keys(args.ingest_key, args.supervisor_key, args.auditor_key), args.database_url)
    else:
        with tempfile.TemporaryDirectory() as tmp, started_server(args.db, Path(tmp)) as (url, keys, db_url):
            ok = run(url, keys, db_url)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
