"""The same seeded conversations as benchmarks.seed_pg, into an embedded SQLite database (for measuring the
embedded default's search at its sizes).

    .venv/bin/python -m benchmarks.seed_sqlite --url sqlite:///var/bench.db --conversations 20000

Rows are rendered exactly as for PostgreSQL, then converted to SQLite's storage (32-hex UUIDs, UTC
timestamps as text, 0/1 booleans; no full-text grams: SQLite searches the text) and inserted with
executemany in one transaction per chunk.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from app.db.migrate import upgrade
from benchmarks import seed_corpus
from benchmarks.seed_pg import (
    _COPY,
    CHUNK,
    COMPLAINT_SHARE,
    TABLES,
    _agents,
    _Chunk,
    _render,
    _template,
)

_UUID = {"id", "conversation_id"}
_TIME = {"started_at", "created_at", "updated_at", "analysed_at"}
_BOOL = {"flagged"}


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        ch = field[i]
        if ch == "\\" and i + 1 < len(field):
            nxt = field[i + 1]
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _convert(cols: list[str], line: str) -> tuple[Any, ...]:
    values: list[Any] = []
    for col, raw in zip(cols, line.rstrip("\n").split("\t"), strict=True):
        v = _unescape(raw)
        if v is None:
            values.append(None)
        elif col in _UUID:
            values.append(v.replace("-", ""))
        elif col in _TIME:
            values.append(datetime.fromisoformat(v).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
        elif col in _BOOL:
            values.append(1 if v == "t" else 0)
        elif col in ("search_grams", "search_text"):
            values.append(None)
        else:
            values.append(v)
    return tuple(values)


def seed(url: str, n: int, *, seed: int = 0) -> None:
    """Write `n` conversations into the SQLite database at `url` (migrated first)."""
    t0 = time.perf_counter()
    upgrade(url)
    jddc = [_template(o) for o in seed_corpus.load("jddc")]
    stc3 = [_template(o) for o in seed_corpus.load("stc3")]
    weights = [(1 - COMPLAINT_SHARE) / len(jddc)] * len(jddc) + [COMPLAINT_SHARE / len(stc3)] * len(stc3)
    rng = random.Random(seed)
    agents, agent_weights = _agents(rng)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    first = db.execute("SELECT count(*) FROM conversations").fetchone()[0]
    for start in range(0, n, CHUNK):
        chunk = _Chunk()
        picks = rng.choices(jddc + stc3, weights, k=min(CHUNK, n - start))
        who = rng.choices(agents, agent_weights, k=len(picks))
        for j, (tpl, agent) in enumerate(zip(picks, who, strict=True)):
            _render(chunk, n=first + start + j, seed=seed, tpl=tpl, agent=agent, rng=rng, now=now)
        with db:
            for table in TABLES:
                cols = [c.strip().strip('"') for c in _COPY[table].split(",")]
                marks = ", ".join("?" * len(cols))
                names = ", ".join(f'"{c}"' for c in cols)
                rows = [_convert(cols, line) for line in chunk.parts[table]]
                db.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        print(f"  {start + len(picks):>9,} / {n:,} conversations")
    db.execute("ANALYZE")
    db.close()
    print(f"seeded {n:,} conversations into {url} in {time.perf_counter() - t0:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="sqlite:///path/to.db")
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    seed(args.url, args.conversations, seed=args.seed)


if __name__ == "__main__":
    main()
