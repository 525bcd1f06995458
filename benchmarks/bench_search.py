"""Search latency on a seeded PostgreSQL database: today's query code against the one before issue 12.

    .venv/bin/python -m benchmarks.bench_search --url postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        [--runs 30] [--baseline-runs 5] [--explain] [--no-baseline]

Seed the database first (`python -m benchmarks.seed_pg --url ... --conversations N`). Five queries, each
one page of 50 plus its total, as `GET /v1/conversations` runs them (repository.search), with parameters
varied per run (agents, date windows, keywords and substrings drawn from what is stored, fixed seed):
the supervisor queue (flagged, unreviewed, most severe first), an auditor filter (emotion + agent + 30-day
range), keyword search, full-text `q`, and a conversation read (repository.get: utterances, findings,
keywords, reviews). The baseline is the search code as it was before (`LIKE '%q%'` over every utterance,
an exact count(*) per page, the cursor as an OR of three comparisons), run on the same database and
indexes, with a statement timeout. Prints p50/p95 per query, the ratio, the load average (the machine is
shared) and, with --explain, EXPLAIN (ANALYZE, BUFFERS) of each new query.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.conversations import repository, search
from app.conversations.search import (
    POSTGRES_SEARCH_SETTINGS,
    ConversationFilters,
    branches,
    conditions,
    level_query,
    probe_query,
    probe_size,
)
from app.db import Conversation
from app.db.session import make_engine, make_session_factory

LIMIT = 50
QueryFn = Callable[[Session, ConversationFilters | uuid.UUID], Any]


# --- the code before issue 12, kept callable as the baseline ------------------------------------------
def _baseline_search(session: Session, filters: ConversationFilters) -> tuple[list[Conversation], int]:
    where = conditions(filters, dialect="sqlite")  # the plain LIKE, no bigram index: as it was
    total = session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
    stmt: Select[Conversation] = select(Conversation).where(*where)
    stmt = stmt.order_by(
        Conversation.severity.desc(), Conversation.started_at.desc(), Conversation.id.desc()
    ).limit(LIMIT + 1)
    return list(session.scalars(stmt)), total


def _baseline_next_page(session: Session, filters: ConversationFilters, after: Conversation) -> int:
    C = Conversation
    sev, started, ident = after.severity, after.started_at, after.id
    stmt = (
        select(C)
        .where(*conditions(filters, dialect="sqlite"))
        .where(
            or_(
                C.severity < sev,
                and_(C.severity == sev, C.started_at < started),
                and_(C.severity == sev, C.started_at == started, C.id < ident),
            )
        )
        .order_by(C.severity.desc(), C.started_at.desc(), C.id.desc())
        .limit(LIMIT + 1)
    )
    return len(list(session.scalars(stmt)))


# --- parameters drawn from the data --------------------------------------------------------------------
class Params:
    """Per-run parameters drawn once (fixed seed) from what the database holds."""

    def __init__(self, session: Session, rng: random.Random, runs: int) -> None:
        pg = session.get_bind().dialect.name == "postgresql"

        def sample(table: str, percent: float) -> str:
            # PostgreSQL reads a sample of pages; SQLite (small) orders by random()
            return f"{table} TABLESAMPLE SYSTEM ({percent})" if pg else table

        rand = "" if pg else " ORDER BY random()"
        agents = (
            session.execute(
                text("SELECT agent_id FROM conversations GROUP BY agent_id ORDER BY count(*) DESC LIMIT 100")
            )
            .scalars()
            .all()
        )
        self.latest = session.scalar(select(func.max(Conversation.started_at))) or datetime.now(UTC)
        # keywords over a range of frequencies: common, middling and rare ones
        terms = (
            session.execute(
                text(
                    f"SELECT term FROM (SELECT term, count(*) n FROM {sample('keywords', 2)} GROUP BY term) t "
                    "WHERE n >= 3 ORDER BY n DESC LIMIT 300"
                )
            )
            .scalars()
            .all()
        )
        texts = (
            session.execute(
                text(f"SELECT text FROM {sample('utterances', 0.2)} WHERE length(text) >= 6{rand} LIMIT 2000")
            )
            .scalars()
            .all()
        )
        ids = session.scalars(
            select(Conversation.id).from_statement(
                text(f"SELECT id FROM {sample('conversations', 1)}{rand} LIMIT 5000")
            )
        ).all()
        emotions = ["angry", "anxious", "sad"]
        self.auditor = []
        for _ in range(runs):
            until = self.latest - timedelta(days=rng.random() * 60)
            self.auditor.append(
                ConversationFilters(
                    emotion=rng.choice(emotions),
                    agent_id=rng.choice(agents),
                    since=until - timedelta(days=30),
                    until=until,
                )
            )
        self.keyword = [ConversationFilters(keyword=rng.choice(terms)) for _ in range(runs)]
        self.q = []
        for _ in range(runs):
            t = rng.choice(texts)
            n = rng.choice([2, 2, 3, 4, 5])
            i = rng.randrange(0, len(t) - n)
            self.q.append(ConversationFilters(q=t[i : i + n]))
        self.queue = [ConversationFilters(flagged=True, review_status="unreviewed")] * runs
        self.read = [rng.choice(ids) for _ in range(runs)]


COUNT_CAP = [search.COUNT_CAP]


def _new_search(session: Session, filters: ConversationFilters | uuid.UUID) -> Any:
    assert isinstance(filters, ConversationFilters)
    return repository.search(session, filters=filters, cursor=None, limit=LIMIT, count_cap=COUNT_CAP[0])


def _read(session: Session, ident: ConversationFilters | uuid.UUID) -> Any:
    assert isinstance(ident, uuid.UUID)
    conv = repository.get(session, conversation_id=ident)
    repository.job_id_for(session, conversation_id=ident)
    return conv


def _baseline(session: Session, filters: ConversationFilters | uuid.UUID) -> Any:
    assert isinstance(filters, ConversationFilters)
    return _baseline_search(session, filters)


def _time(
    factory: Callable[[], Session], fn: QueryFn, params: list[Any], timeout_ms: int | None
) -> list[float]:
    out = []
    for p in params:
        with factory() as session:
            if timeout_ms and session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
            t0 = time.perf_counter()
            try:
                fn(session, p)
                out.append((time.perf_counter() - t0) * 1000)
            except OperationalError:  # the baseline's statement timeout: counted as the timeout
                if not timeout_ms:
                    raise
                out.append(float(timeout_ms))
            session.rollback()
    return out


def _pct(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def _explain(session: Session, name: str, filters: ConversationFilters) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements repository.search runs for a first page (see
    app.conversations.search.page): each severity level's probe, a walk where the level is dense, until
    the page is full and the total counted."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    where = branches(filters, dialect="postgresql")
    stmts: list[tuple[str, Any, bool]] = []
    found = total = 0
    for level in (3, 2, 1, 0):
        page_open = found < LIMIT + 1
        if not page_open and total > COUNT_CAP[0]:
            break
        n = max(probe_size(filters) if page_open else 0, COUNT_CAP[0] - total) + 1
        probe = probe_query(where, level=level, limit=n)
        got = len(session.execute(probe).all())
        total += got
        stmts.append((f"severity {level}: probe, {got} rows", probe, filters.q is not None))
        if page_open and got == n:
            walk = level_query(where, level=level, after=None, limit=LIMIT + 1 - found)
            stmts.append((f"severity {level}: walk", walk, False))
        if page_open:
            found += min(got, LIMIT + 1 - found)
    for part, stmt, bitmap in stmts:
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        flag = "off" if bitmap else "on"  # repository.search's bitmap probes for `q`
        session.execute(text(f"SET enable_indexscan = {flag}; SET enable_seqscan = {flag}"))
        plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
        print(f"\n--- EXPLAIN {name} ({part}) {filters_repr(filters)}")
        print("\n".join(plan))


def _repr(p: ConversationFilters | uuid.UUID) -> str:
    return filters_repr(p) if isinstance(p, ConversationFilters) else str(p)


def filters_repr(f: ConversationFilters) -> str:
    return ", ".join(f"{k}={getattr(f, k)}" for k in f.__dataclass_fields__ if getattr(f, k) is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--baseline-runs", type=int, default=5)
    parser.add_argument("--baseline-timeout-ms", type=int, default=60_000)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count-cap", type=int, default=search.COUNT_CAP, help="total counted up to")
    parser.add_argument("--slowest", type=int, default=0, help="print the N slowest parameters per query")
    args = parser.parse_args()
    COUNT_CAP[0] = args.count_cap

    engine = make_engine(args.url)
    factory = make_session_factory(engine)
    with factory() as s:
        n_conv = s.scalar(select(func.count()).select_from(Conversation)) or 0
        n_utt = s.scalar(text("SELECT count(*) FROM utterances")) or 0
        params = Params(s, random.Random(args.seed), args.runs)
        pg = s.get_bind().dialect.name == "postgresql"
    print(
        f"database: {engine.dialect.name}, {n_conv:,} conversations, {n_utt:,} utterances; {args.runs} runs per query"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")

    queries: list[tuple[str, list[Any], QueryFn]] = [
        ("supervisor queue", params.queue, _new_search),
        ("auditor: emotion+agent+30 days", params.auditor, _new_search),
        ("keyword", params.keyword, _new_search),
        ("full-text q", params.q, _new_search),
        ("conversation read", params.read, _read),
    ]
    # one untimed pass warms the caches as a running service's would be
    for _, ps, fn in queries:
        _time(factory, fn, ps[:3], None)
    rows = []
    for name, ps, fn in queries:
        new = _time(factory, fn, ps, None)
        base: list[float] = []
        if not args.no_baseline and fn is _new_search:
            base = _time(factory, _baseline, ps[: args.baseline_runs], args.baseline_timeout_ms)
        rows.append((name, new, base))
    print(f"\n{'query (page of 50 + total)':34s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}   "
          f"{'baseline p50':>12s} {'p95':>8s}  {'x p50':>7s}")  # fmt: skip
    for name, new, base in rows:
        line = f"{name:34s} {_pct(new, 50):8.1f} {_pct(new, 95):8.1f} {max(new):8.1f}   "
        if base:
            line += f"{_pct(base, 50):12.1f} {_pct(base, 95):8.1f}  {_pct(base, 50) / _pct(new, 50):6.1f}x"
        print(line)
    if args.slowest:
        for (name, new, _), (_, ps, _) in zip(rows, queries, strict=True):
            worst = sorted(zip(new, ps, strict=False), key=lambda x: -x[0])[: args.slowest]
            print(f"slowest {name}: " + "; ".join(f"{ms:.0f} ms {_repr(p)}" for ms, p in worst))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.explain and pg:
        with factory() as s:
            for setting in POSTGRES_SEARCH_SETTINGS:  # as repository.search does
                s.execute(text(setting))
            for name, ps, fn in queries:
                if fn is _new_search:
                    _explain(s, name, ps[0])


if __name__ == "__main__":
    main()
