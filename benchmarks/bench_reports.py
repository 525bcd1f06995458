"""Report times over 100,000 conversations in PostgreSQL: each report through the API, target under 1 s.

    .venv/bin/python -m benchmarks.bench_reports [--url postgresql+psycopg://postgres@127.0.0.1:5432/audit_bench_reports]
        [--conversations 100000] [--repeat 7]

Seeds the database with `benchmarks.seed_pg` up to `--conversations` (real audited JDDC sessions spread over
the last 90 days, ~200 agents; an existing seed is reused), then calls `GET /v1/reports/{agents,daily,rules}`
through the app (a TestClient over the same code `audit serve` runs, emotion model off: reports read only)
for two periods: the last 7 days (the default) and all 90 days (every conversation in the period), JSON and
XLSX. Prints p50/p95 per report with the load average, the daily report with its per-day keyword cache
emptied before every call (every day ranked anew, the path before the cache and after a restart), a baseline measured in the same run (the per-agent
numbers computed the naive way: the period's conversation and finding rows loaded into Python), and EXPLAIN
ANALYZE of the slowest statement of the slowest report.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from app.auth.service import create_key
from app.conversations.enums import ConversationStatus
from app.db import Conversation, Finding
from app.db.migrate import upgrade
from app.db.session import session_scope
from app.main import create_app
from app.reports import day_cache
from app.reports.queries import POSTGRES_REPORT_SETTINGS
from app.settings import REPO_ROOT, Settings

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/audit_bench_reports"
REPORTS = ("agents", "daily", "rules")
TARGET_S = 1.0


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min, {os.cpu_count()} CPUs)"


def _count(url: str) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Conversation)).scalar_one())
    finally:
        engine.dispose()


def _ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.replace("postgresql+psycopg://", "postgresql://", 1).rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _ensure_seeded(url: str, n: int) -> None:
    _ensure_database(url)
    upgrade(url)
    have = _count(url)
    if have >= n:
        print(f"database has {have:,} conversations (>= {n:,}): reused")
        return
    from benchmarks import seed_pg

    print(f"seeding {n - have:,} conversations (have {have:,}) with benchmarks.seed_pg ...")
    seed_pg.seed(url, n - have)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[float, str, Any]]]:
    """Every statement the engine runs meanwhile, with its duration: (seconds, SQL, parameters)."""
    seen: list[tuple[float, str, Any]] = []

    def before(conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((time.perf_counter() - conn.info.pop("bench_t0"), statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def _naive_agents(engine: Engine, since: datetime, until: datetime) -> int:
    """The baseline: per-agent mean score, flags and findings by category from rows loaded into Python."""
    period = (Conversation.started_at >= since, Conversation.started_at < until)
    analysed = Conversation.status == ConversationStatus.ANALYSED
    scores: dict[str, list[float]] = defaultdict(list)
    flagged: dict[str, int] = defaultdict(int)
    categories: dict[tuple[str, str], int] = defaultdict(int)
    with engine.connect() as conn:
        for agent, score, flag, _metrics in conn.execute(
            select(
                Conversation.agent_id, Conversation.score, Conversation.flagged, Conversation.metrics
            ).where(*period, analysed)
        ):
            scores[agent].append(score)
            flagged[agent] += bool(flag)
        for agent, category in conn.execute(
            select(Conversation.agent_id, Finding.category)
            .select_from(Finding)
            .join(Conversation, Conversation.id == Finding.conversation_id)
            .where(*period, analysed, Finding.overturned_at.is_(None))
        ):
            categories[(agent, category)] += 1
    return len(scores)


def _time(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm: plans cached, pages in shared buffers, as on a server that has been up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    _ensure_seeded(args.url, args.conversations)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    settings = Settings(
        data_dir=data_dir,
        database_url=args.url,
        model_dir=REPO_ROOT / "var" / "models",
        start_worker=False,
        emotion_enabled=False,
        abuse_enabled=False,
    )
    app = create_app(settings)
    now = datetime.now(UTC)
    periods = {
        "7 days": "",  # the default: the last 7 local days
        "90 days": f"?since={(now - timedelta(days=91)).date()}&until={(now + timedelta(days=1)).date()}",
    }
    with TestClient(app) as client:
        with session_scope(app.state.session_factory) as session:
            _, key = create_key(session, name="bench-reports", role="supervisor")
        headers = {"Authorization": f"Bearer {key}"}
        engine: Engine = app.state.engine
        print(f"\n{_count(args.url):,} conversations; {_load()}")
        print(f"{'report':<8} {'period':<8} {'format':<6} {'p50 s':>7} {'p95 s':>7}  rows")
        results: dict[tuple[str, str, str], list[float]] = {}
        for period, query in periods.items():
            for report in REPORTS:
                for fmt in ("json", "xlsx"):
                    url = f"/v1/reports/{report}{query}"
                    if fmt != "json":
                        url += ("&" if query else "?") + f"format={fmt}"
                    resp = client.get(url, headers=headers)
                    assert resp.status_code == 200, resp.text
                    size = (
                        len(resp.json()[{"agents": "agents", "daily": "days", "rules": "rules"}[report]])
                        if fmt == "json"
                        else "-"
                    )
                    times = _time(partial(client.get, url, headers=headers), args.repeat)
                    results[(report, period, fmt)] = times
                    print(
                        f"{report:<8} {period:<8} {fmt:<6} {statistics.median(times):7.3f} "
                        f"{_percentile(times, 0.95):7.3f}  {size}"
                    )
        print(_load())

        # The daily report before its per-day keyword cache (app/reports/day_cache.py): every day ranked anew,
        # as on the first request after a start or when every day changed.
        daily_url = f"/v1/reports/daily{periods['90 days']}"

        def uncached() -> None:
            day_cache.TOP_KEYWORDS.clear()
            client.get(daily_url, headers=headers)

        cold = _time(uncached, args.repeat)
        warm = results[("daily", "90 days", "json")]
        print(
            f"daily over 90 days with every day ranked anew (no cached day, as before the cache): "
            f"p50 {statistics.median(cold):.3f} s p95 {_percentile(cold, 0.95):.3f} s; with unchanged days "
            f"cached p50 {statistics.median(warm):.3f} s ({statistics.median(cold) / statistics.median(warm):.1f}x)"
        )

        since, until = now - timedelta(days=91), now + timedelta(days=1)
        naive = _time(lambda: _naive_agents(engine, since, until), max(3, args.repeat // 2))
        ours = results[("agents", "90 days", "json")]
        print(
            f"\nbaseline, agents over 90 days with rows loaded into Python (part of the numbers only): "
            f"p50 {statistics.median(naive):.3f} s; the report's aggregate queries p50 {statistics.median(ours):.3f} s "
            f"({statistics.median(naive) / statistics.median(ours):.1f}x)"
        )
        worst = max(results, key=lambda k: statistics.median(results[k]))
        slowest = [k for k in results if statistics.median(results[k]) >= TARGET_S]
        print(
            f"target < {TARGET_S:.0f} s per report: {'met' if not slowest else 'MISSED by ' + str(slowest)}"
        )

        report, period, fmt = worst
        url = f"/v1/reports/{report}{periods[period]}"
        with _statements(engine) as seen:
            client.get(url, headers=headers)
        seconds, statement, parameters = max(seen, key=lambda s: s[0])
        print(
            f"\nslowest: {report} over {period}; its slowest statement took {seconds:.3f} s. EXPLAIN ANALYZE:"
        )
        with engine.connect() as conn:
            for setting in POSTGRES_REPORT_SETTINGS:  # as the report's own transaction runs it
                conn.exec_driver_sql(setting)
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        print("\n".join(row[0] for row in plan))


if __name__ == "__main__":
    main()
