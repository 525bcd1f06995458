"""Write N realistic audited conversations into PostgreSQL fast (COPY), for search and report benchmarks.

    .venv/bin/python -m benchmarks.seed_pg --url postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        --conversations 100000 [--seed 0]

Creates the database if missing and brings its schema to the head migration. Each conversation replicates
one real dialogue exactly as the real audit stored it (benchmarks.seed_corpus: masked text, per-utterance
emotions, findings, keywords, score, severity, flag, full-text grams): 88 % one of the 994 JDDC chats, 12 %
one of the 2,958 STC-3 complaint dialogues (JDDC alone is almost never flagged). Each gets its own ids, one
of ~200 agents (a few busy ones take far more calls), a channel (30 % phone, with utterance times), a start
over the last 90 days in office hours, and a review state: most flagged conversations older than two days
have been reviewed or dismissed by one of 12 supervisors, with a note. Rows are streamed with COPY in chunks
of 10,000 conversations, each committed on its own. Seeding more than 50,000 drops the secondary indexes of
the five tables first and rebuilds them at the end (much faster than maintaining them row by row); their
definitions are saved under var/seed/ first and restored by the next run if this one is interrupted.
Re-running appends: ids and external ids continue after the conversations already there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from app.conversations.search_text import TEXT_SEPARATOR, grams, tsvector_literal
from app.db.migrate import upgrade
from app.settings import REPO_ROOT
from benchmarks import seed_corpus

TABLES = ("conversations", "utterances", "findings", "keywords", "reviews")
CHUNK = 10_000
REBUILD_FROM = 50_000
N_AGENTS = 200
N_SUPERVISORS = 12
DAYS = 90
# Share of conversations copied from the STC-3 complaint dialogues; the rest are JDDC chats.
COMPLAINT_SHARE = 0.12
NOTES = ("已核实，坐席已辅导", "误报：客户原话", "已联系客户回访", "已处理", None, None)


def _esc(value: Any) -> str:
    """A value in COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    s = str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _row(*values: Any) -> str:
    return "\t".join(_esc(v) for v in values)


@dataclass(frozen=True)
class _Template:
    """One audited session, pre-rendered: only ids, agent, channel and times vary per copy."""

    conv_tail: str  # the conversation columns after the varying ones
    flagged: bool
    utt_chat: list[str]  # per utterance, the columns after (id, conversation_id)
    utt_phone: list[str]
    findings: list[str]
    keywords: list[str]
    customer: str


_CONV_COLS = (
    "id, external_id, payload_sha256, source, channel, agent_id, customer_id, started_at, created_at, "
    "updated_at, analysed_at, review_status, status, analysis_error, lexicon_version, score, "
    "score_breakdown, severity, flagged, metrics, customer_emotion, customer_emotion_peak, "
    "customer_emotion_peak_confidence, emotion_trajectory, emotion_summary, search_grams, search_text"
)
_UTT_COLS = (
    "id, conversation_id, index, speaker, text, start_ms, end_ms, emotion, emotion_confidence, emotion_probs"
)
_FINDING_COLS = (
    'id, conversation_id, position, kind, category, term, severity, utterance_index, start, "end", rule, '
    "detail, lexicon_version"
)
_KEYWORD_COLS = "id, conversation_id, position, term, weight, speaker"
_REVIEW_COLS = "id, conversation_id, status, note, reviewer, created_at"


def _template(o: dict[str, Any]) -> _Template:
    found = grams(u["text"] for u in o["utterances"])
    conv_tail = _row(
        "analysed",
        None,
        o["lexicon_version"],
        o["score"],
        o["score_breakdown"],
        o["severity"],
        o["flagged"],
        o["metrics"],
        o["customer_emotion"],
        o["customer_emotion_peak"],
        o["customer_emotion_peak_confidence"],
        o["emotion_trajectory"],
        o["emotion_summary"],
        None if found is None else tsvector_literal(found),
        TEXT_SEPARATOR.join(u["text"] for u in o["utterances"]),
    )
    chat, phone, t = [], [], 0
    for i, u in enumerate(o["utterances"]):
        tail = _row(u["emotion"], u["confidence"], u["probs"])
        chat.append(_row(i, u["speaker"], u["text"], None, None) + "\t" + tail)
        dur = 800 + 220 * len(u["text"])  # about 4.5 characters a second, as people speak
        phone.append(_row(i, u["speaker"], u["text"], t, t + dur) + "\t" + tail)
        t += dur + 600
    findings = [
        _row(
            p,
            f["kind"],
            f["category"],
            f["term"],
            f["severity"],
            f["utterance_index"],
            f["start"],
            f["end"],
            f["rule"],
            f["detail"],
            o["lexicon_version"],
        )  # fmt: skip
        for p, f in enumerate(o["findings"])
    ]
    keywords = [_row(p, k["term"], k["weight"], k["speaker"]) for p, k in enumerate(o["keywords"])]
    return _Template(conv_tail, o["flagged"], chat, phone, findings, keywords, o["session_id"][:12])


def _uuid_prefix(seed: int, table: int, n: int) -> str:
    """The first 24 hex digits (with dashes) of row ids of conversation `n`: ordered, so inserts append."""
    h = f"{0x5EED0000 + seed:08x}{table:02x}{n:014x}"
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:24]}"


class _Chunk:
    """The COPY buffers of one chunk of conversations."""

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {t: [] for t in TABLES}

    def add(self, table: str, line: str) -> None:
        self.parts[table].append(line)


def _agents(rng: random.Random) -> tuple[list[str], list[float]]:
    names = [f"agent-{i:03d}" for i in range(1, N_AGENTS + 1)]
    weights = [1.0 / (1 + i) ** 0.6 for i in range(N_AGENTS)]  # some agents take far more calls
    rng.shuffle(weights)
    return names, weights


def _render(
    chunk: _Chunk, *, n: int, seed: int, tpl: _Template, agent: str, rng: random.Random, now: datetime
) -> None:
    cid = _uuid_prefix(seed, 1, n) + "00000000"
    phone = rng.random() < 0.3
    day = now - timedelta(days=rng.random() * DAYS)
    started = day.replace(hour=1 + int(rng.random() * 12), minute=int(rng.random() * 60))  # 09-21h +08:00
    if started > now:
        started -= timedelta(days=1)
    created = started + timedelta(seconds=60 + rng.random() * 900)
    analysed = created + timedelta(milliseconds=200 + rng.random() * 2000)
    review = "unreviewed"
    if tpl.flagged and now - started > timedelta(days=2) and rng.random() < 0.85:
        review = "dismissed" if rng.random() < 0.2 else "reviewed"
    ext = f"seed{seed}-{n:08d}"
    digest = hashlib.sha256(ext.encode()).hexdigest()
    head = _row(
        cid, ext, digest, "transcript", "phone" if phone else "chat", agent, f"USER_{tpl.customer}",
        started.isoformat(), created.isoformat(), analysed.isoformat(), analysed.isoformat(), review,
    )  # fmt: skip
    chunk.add("conversations", head + "\t" + tpl.conv_tail + "\n")
    up = _uuid_prefix(seed, 2, n)
    for k, tail in enumerate(tpl.utt_phone if phone else tpl.utt_chat):
        chunk.add("utterances", f"{up}{k:08x}\t{cid}\t{tail}\n")
    fp = _uuid_prefix(seed, 3, n)
    for k, tail in enumerate(tpl.findings):
        chunk.add("findings", f"{fp}{k:08x}\t{cid}\t{tail}\n")
    kp = _uuid_prefix(seed, 4, n)
    for k, tail in enumerate(tpl.keywords):
        chunk.add("keywords", f"{kp}{k:08x}\t{cid}\t{tail}\n")
    if review != "unreviewed":
        at = analysed + timedelta(hours=2 + rng.random() * 40)
        note = NOTES[int(rng.random() * len(NOTES))]
        who = f"supervisor-{1 + int(rng.random() * N_SUPERVISORS):02d}"
        chunk.add(
            "reviews",
            _row(_uuid_prefix(seed, 5, n) + "00000000", cid, review, note, who, at.isoformat()) + "\n",
        )


_COPY = {
    "conversations": _CONV_COLS,
    "utterances": _UTT_COLS,
    "findings": _FINDING_COLS,
    "keywords": _KEYWORD_COLS,
    "reviews": _REVIEW_COLS,
}


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _ensure_database(url: str) -> None:
    dsn = _dsn(url)
    base, _, name = dsn.rpartition("/")
    name = name.split("?")[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _saved_indexes_path(url: str) -> Path:
    name = hashlib.sha256(_dsn(url).encode()).hexdigest()[:12]
    return REPO_ROOT / "var" / "seed" / f"dropped-indexes-{name}.json"


def _drop_secondary_indexes(conn: psycopg.Connection[Any], saved: Path) -> list[str]:
    """Drop the non-constraint indexes of the seeded tables; their definitions are saved to `saved` first."""
    rows = conn.execute(
        """
        SELECT i.relname, pg_get_indexdef(x.indexrelid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
        WHERE t.relname = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        """,
        (list(TABLES),),
    ).fetchall()
    defs = [d for _, d in rows]
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(defs))
    for name, _ in rows:
        conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    conn.commit()
    return defs


def _restore_indexes(conn: psycopg.Connection[Any], saved: Path, log: Callable[[str], None]) -> None:
    if not saved.exists():
        return
    conn.execute("SET maintenance_work_mem = '1GB'")
    for d in json.loads(saved.read_text()):
        t0 = time.perf_counter()
        conn.execute(d.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
        conn.commit()
        log(f"  index rebuilt in {time.perf_counter() - t0:5.1f} s: {d}")
    saved.unlink()


@dataclass(frozen=True)
class SeedStats:
    conversations: int
    utterances: int
    findings: int
    keywords: int
    reviews: int
    seconds: float


def seed(
    url: str,
    n: int,
    *,
    seed: int = 0,
    rebuild_indexes: bool | None = None,
    complaint_share: float = COMPLAINT_SHARE,
    log: Callable[[str], None] = print,
) -> SeedStats:
    """Write `n` conversations (and their utterances, findings, keywords, reviews) into the database at `url`."""
    t0 = time.perf_counter()
    _ensure_database(url)
    upgrade(url if "+psycopg" in url else url.replace("postgresql://", "postgresql+psycopg://", 1))
    jddc = [_template(o) for o in seed_corpus.load("jddc")]
    stc3 = [_template(o) for o in seed_corpus.load("stc3")] if complaint_share > 0 else []
    templates = jddc + stc3
    weights_t = [(1 - complaint_share) / len(jddc)] * len(jddc)
    weights_t += [complaint_share / len(stc3)] * len(stc3) if stc3 else []
    rng = random.Random(seed)
    agents, weights = _agents(rng)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    saved = _saved_indexes_path(url)
    counts = dict.fromkeys(TABLES, 0)
    with psycopg.connect(_dsn(url)) as conn:
        _restore_indexes(conn, saved, log)  # left dropped by an interrupted run
        conn.execute("SET synchronous_commit = off")  # a crash loses the last chunks, never consistency
        first = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]  # type: ignore[index]
        if rebuild_indexes if rebuild_indexes is not None else n >= REBUILD_FROM:
            _drop_secondary_indexes(conn, saved)
        for start in range(0, n, CHUNK):
            chunk = _Chunk()
            picks = rng.choices(templates, weights_t, k=min(CHUNK, n - start))
            who = rng.choices(agents, weights, k=len(picks))
            for j, (tpl, agent) in enumerate(zip(picks, who, strict=True)):
                _render(chunk, n=first + start + j, seed=seed, tpl=tpl, agent=agent, rng=rng, now=now)
            with conn.cursor() as cur:
                for table in TABLES:
                    lines = chunk.parts[table]
                    if not lines:
                        continue
                    with cur.copy(f"COPY {table} ({_COPY[table]}) FROM STDIN") as copy:
                        for part in _batches(lines):
                            copy.write(part)
                    counts[table] += len(lines)
            conn.commit()
            done = start + len(picks)
            rate = done / (time.perf_counter() - t0)
            log(f"  {done:>9,} / {n:,} conversations ({rate:,.0f}/s)")
        _restore_indexes(conn, saved, log)
        conn.autocommit = True
        for table in TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")  # visibility map for index-only scans, fresh statistics
    stats = SeedStats(
        counts["conversations"], counts["utterances"], counts["findings"], counts["keywords"], counts["reviews"],
        time.perf_counter() - t0,
    )  # fmt: skip
    log(
        f"seeded {stats.conversations:,} conversations, {stats.utterances:,} utterances, "
        f"{stats.findings:,} findings, {stats.keywords:,} keywords, {stats.reviews:,} reviews "
        f"in {stats.seconds:.0f} s"
    )
    return stats


def _batches(lines: list[str], size: int = 2000) -> Iterator[str]:
    for i in range(0, len(lines), size):
        yield "".join(lines[i : i + size])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql+psycopg://user@host:port/database")
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0, help="random seed; also part of every row id")
    parser.add_argument(
        "--rebuild-indexes",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"drop and rebuild secondary indexes (default: when seeding {REBUILD_FROM:,} or more)",
    )
    parser.add_argument(
        "--complaint-share",
        type=float,
        default=COMPLAINT_SHARE,
        help="share of STC-3 complaint dialogues (0: JDDC chats only)",
    )
    args = parser.parse_args()
    seed(
        args.url,
        args.conversations,
        seed=args.seed,
        rebuild_indexes=args.rebuild_indexes,
        complaint_share=args.complaint_share,
    )


if __name__ == "__main__":
    main()
