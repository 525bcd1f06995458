"""Conversation search internals: filter conditions, keyset order and a capped count, on both backends.

Built for PostgreSQL at millions of conversations (benchmarks/bench_search.py): `q` narrows candidates with
GIN indexes of character bigrams (`search_grams`, see app.conversations.search_text, one partial index per
severity level) before the row's own text decides; pages are filled level by level (`page`), each level
probed, then sorted or walked along an index ending in (severity, started_at, id), the cursor a row
comparison on it; the total is counted exactly only up to a cap. SQLite, the embedded default, runs the
same code with the plain substring scan, fast at its sizes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import cast

from app.conversations.search_text import grams_decide, tsquery_literal
from app.db import Conversation, Finding, Keyword, Utterance
from pipelines.types import Severity

# Past this many matches `total` stops counting (and `total_exact` is false): an exact count(*) of a broad
# filter over millions of rows would cost more than the page itself (measured: counting up to 10,000 text
# matches took longer than the 200 ms a page may take at a million conversations; 1,000 fits).
COUNT_CAP = 1_000
# A search's transaction on PostgreSQL (SET LOCAL, run by app.conversations.repository.search):
# - jit off: a search's plan is costed high (a fallback it almost never runs), which makes PostgreSQL
#   compile it with JIT: measured 60-230 ms of compilation for a query that then runs in 5-40 ms;
# - work_mem: a probe's bitmap of a common gram in a large level (hundreds of thousands of rows) outgrows
#   the default 4 MB and turns lossy, and every row of a lossy page is rechecked, reading its full-text
#   column (as the reports do, app.reports.queries);
# - no parallel workers: each would build its own copy of a keyword probe's hash (tens of thousands of
#   conversation ids), start up for a walk that needs a few rows, and compete for the cores the other
#   requests use: measured at a million conversations, a common term's probe 80 ms with workers, 45 without,
#   a walk for 8 rows 40 ms with, 1 without.
POSTGRES_SEARCH_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL max_parallel_workers_per_gather = 0",
)
# Matches of one severity level fetched (unordered) before the level counts as dense and is walked in order.
PROBE = 3_000
# The same for a keyword-only search: its walk checks each row in the (term, conversation_id) index, cheap
# enough to walk a sparser level than `q` can (whose check reads the row's full-text column), and its probe
# is a hash join over the level's index that stops at the limit: measured at a million conversations, a
# common term's probe of a large level 45 ms at 1,000, 75 ms at 3,000.
KEYWORD_PROBE = 1_000


@dataclass(frozen=True, slots=True)
class ConversationFilters:
    """Search filters; None means 'any'."""

    flagged: bool | None = None
    review_status: str | None = None
    status: str | None = None
    severity_min: int | None = None
    keyword: str | None = None
    q: str | None = None
    category: str | None = None
    kind: str | None = None
    term: str | None = None
    agent_id: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    score_min: float | None = None
    score_max: float | None = None
    emotion: str | None = None
    speaker: str | None = None
    min_confidence: float | None = None
    trajectory: str | None = None
    dissatisfaction_min: float | None = None
    sort: str = "severity"  # or "dissatisfaction" (`dissatisfaction_page`)


@dataclass(frozen=True, slots=True)
class Total:
    """How many conversations match: exact, or (exact=False) at least `value`, the cap."""

    value: int
    exact: bool


def probe_size(f: ConversationFilters) -> int:
    """How many matches of a level `page` probes for these filters (PROBE or KEYWORD_PROBE)."""
    return KEYWORD_PROBE if f.keyword is not None and f.q is None else PROBE


def _like_pattern(q: str) -> str:
    # LIKE wildcards in the query are taken literally.
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_branches(q: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """PostgreSQL's `q` as two disjoint conditions: rows with grams (the GIN index), rows without (NULL grams:
    too long to index, or not indexed yet)."""
    C = Conversation
    pattern = _like_pattern(q)
    contains = exists().where(Utterance.conversation_id == C.id, Utterance.text.like(pattern, escape="\\"))
    indexed = C.search_grams.op("@@")(cast(literal(tsquery_literal(q)), TSQUERY))
    # The candidate's own `search_text` decides, without a subquery per candidate. Only a row the app has
    # not indexed yet (written by an older version during an upgrade) has neither column and falls back to
    # its utterances: coalesce evaluates that subquery for such rows alone.
    recheck = func.coalesce(C.search_text.like(pattern, escape="\\"), contains)
    unindexed = and_(C.search_grams.is_(None), recheck)
    if grams_decide(q):
        return indexed, unindexed
    return and_(indexed, recheck), unindexed


def _text_condition(q: str, dialect: str) -> ColumnElement[bool]:
    """Some utterance contains `q`: on PostgreSQL the bigram index first, then the row's own text."""
    if dialect != "postgresql":
        pattern = _like_pattern(q)
        C = Conversation
        return exists().where(Utterance.conversation_id == C.id, Utterance.text.like(pattern, escape="\\"))
    return or_(*_text_branches(q))


def conditions(f: ConversationFilters, *, dialect: str) -> list[ColumnElement[bool]]:
    """The WHERE clause of a search, for the session's database `dialect`."""
    c: list[ColumnElement[bool]] = []
    C = Conversation
    if f.flagged is not None:
        c.append(C.flagged.is_(f.flagged))
    if f.review_status is not None:
        c.append(C.review_status == f.review_status)
    if f.status is not None:
        c.append(C.status == f.status)
    if f.severity_min is not None:
        c.append(C.severity >= f.severity_min)
    if f.agent_id is not None:
        c.append(C.agent_id == f.agent_id)
    if f.channel is not None:
        c.append(C.channel == f.channel)
    if f.since is not None:
        c.append(C.started_at >= f.since)
    if f.until is not None:
        c.append(C.started_at < f.until)
    if f.score_min is not None:
        c.append(C.score >= f.score_min)
    if f.score_max is not None:
        c.append(C.score <= f.score_max)
    if f.trajectory is not None:
        c.append(C.emotion_trajectory == f.trajectory)
    if f.dissatisfaction_min is not None:
        c.append(C.dissatisfaction >= f.dissatisfaction_min)
    if f.sort == "dissatisfaction":
        c.append(C.dissatisfaction.is_not(None))  # only scored conversations have a place in that order
    if f.keyword is not None:
        c.append(exists().where(Keyword.conversation_id == C.id, Keyword.term == f.keyword))
    if f.q is not None:
        c.append(_text_condition(f.q, dialect))
    if f.category is not None or f.kind is not None or f.term is not None:
        fc: list[ColumnElement[bool]] = [Finding.conversation_id == C.id]
        if f.category is not None:
            fc.append(Finding.category == f.category)
        if f.kind is not None:
            fc.append(Finding.kind == f.kind)
        if f.term is not None:
            fc.append(Finding.term == f.term)
        if f.severity_min is not None:
            fc.append(Finding.severity >= f.severity_min)
        c.append(exists().where(*fc))
    if f.emotion is not None or f.min_confidence is not None:
        uc: list[ColumnElement[bool]] = [Utterance.conversation_id == C.id]
        if f.emotion is not None:
            uc.append(Utterance.emotion == f.emotion)
        else:
            uc.append(Utterance.emotion.is_not(None))
        if f.speaker is not None:
            uc.append(Utterance.speaker == f.speaker)
        if f.min_confidence is not None:
            uc.append(Utterance.emotion_confidence >= f.min_confidence)
        c.append(exists().where(*uc))
    return c


def branches(f: ConversationFilters, *, dialect: str) -> list[list[ColumnElement[bool]]]:
    """`conditions` as disjoint alternatives (the search is their union), for `page`'s probes and walks.

    PostgreSQL's `q` is an OR of indexed rows (GIN) and rows without grams; in one statement the planner
    must re-evaluate the whole OR on every row the bitmap returns, and `search_grams @@` reads (detoasts)
    each row's full-text column: measured 720 ms for a probe the indexed branch alone answers in 30-170 ms
    straight from the bitmap (a GIN match needs no recheck). So each branch is its own statement part
    (UNION ALL); the unindexed one is normally empty, found through ix_conversations_unindexed_text.
    """
    if dialect != "postgresql" or f.q is None:
        return [conditions(f, dialect=dialect)]
    rest = conditions(replace(f, q=None), dialect=dialect)
    indexed, unindexed = _text_branches(f.q)
    return [[*rest, indexed], [*rest, unindexed]]


def _level(level: int) -> ColumnElement[bool]:
    # Inlined, not a bound parameter: the planner then picks that level's partial GIN index (migration
    # 0007), which a generic plan of a prepared statement could not.
    return Conversation.severity == literal(level, Integer, literal_execute=True)


def _index_scans(session: Session, *, on: bool) -> None:
    value = "on" if on else "off"
    session.execute(
        text("SELECT set_config('enable_indexscan', :v, true), set_config('enable_seqscan', :v, true)"),
        {"v": value},
    )


def probe_query(
    branches: list[list[ColumnElement[bool]]], *, level: int, limit: int
) -> Select[uuid.UUID, datetime]:
    """Up to `limit` matches of one severity level, in no order (the cheapest plan: usually a bitmap)."""
    C = Conversation
    parts = [select(C.id, C.started_at).where(*where, _level(level)).limit(limit) for where in branches]
    if len(parts) == 1:
        return parts[0]
    u = union_all(*parts).subquery()
    return select(u.c.id, u.c.started_at).limit(limit)


def level_query(
    branches: list[list[ColumnElement[bool]]],
    *,
    level: int,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Select[uuid.UUID, datetime]:
    """The next `limit` matches of one severity level, newest first, after (started_at, id)."""
    C = Conversation
    parts = []
    for where in branches:
        stmt = select(C.id, C.started_at).where(*where, _level(level))
        if after is not None:
            # A row comparison (not an OR) so PostgreSQL reads it as a range of the (…, severity, started_at,
            # id) indexes.
            stmt = stmt.where(tuple_(C.started_at, C.id) < tuple_(*after))
        parts.append(stmt.order_by(C.started_at.desc(), C.id.desc()).limit(limit))
    if len(parts) == 1:
        return parts[0]
    u = union_all(*parts).subquery()
    return select(u.c.id, u.c.started_at).order_by(u.c.started_at.desc(), u.c.id.desc()).limit(limit)


def page(
    session: Session,
    where: list[ColumnElement[bool]],
    *,
    after: tuple[int, datetime, uuid.UUID] | None,
    limit: int,
    count_cap: int = COUNT_CAP,
    min_level: int = 0,
    probe: int = PROBE,
    bitmap_probes: bool = False,
    alternatives: list[list[ColumnElement[bool]]] | None = None,
) -> tuple[list[Conversation], Total]:
    """One page, most severe then newest first, after the keyset position `after`, and the capped total.

    Severity has four levels, so the work is done level by level, most severe first. Each level is probed
    for up to `probe` matches (`probe_size`) in whatever order is cheapest (a bitmap of that level's
    partial GIN index, an index range): if it holds no more, they are all its matches, sorted here; if it
    holds more, the filter is dense there, and a walk of the level newest first finds a page's worth within about
    limit * level size / probe rows. The planner alone could not be trusted with this: matches cluster by
    level (the severe complaints share few words with ordinary chats), its estimates do not know that, and
    it would walk every row of a level looking for matches that are not there. The probes also give the
    total, counted exactly up to `count_cap`. Only the page's keys travel until its rows are read whole.
    `alternatives` (from `branches`): the filter as disjoint parts, each its own part of every probe and
    walk (UNION ALL); by default `where` alone.

    `bitmap_probes` (PostgreSQL, full-text `q`): a probe is by construction a bitmap's job (all matches up
    to PROBE, in any order, from that level's GIN index), but with a dense match the planner prefers an
    index scan filtering row by row, and each row's check reads its full-text column: measured 770 ms
    where the bitmap takes tens. Plain index scans are switched off around the probes (SET LOCAL, this
    transaction only) and back on for the walks, which need them.
    """
    alts = alternatives if alternatives is not None else [where]
    keys: list[uuid.UUID] = []
    total = 0
    for level in sorted(Severity, reverse=True):
        if level < min_level:
            break
        page_open = len(keys) < limit
        if not page_open and total > count_cap:
            break
        # enough to count up to the cap in any case; to know whether the level is dense while the page is open
        n = max(probe if page_open else 0, count_cap - total) + 1
        if bitmap_probes:
            _index_scans(session, on=False)
        found = [(ident, at) for ident, at in session.execute(probe_query(alts, level=int(level), limit=n))]
        if bitmap_probes:
            _index_scans(session, on=True)
        total += len(found)
        if not page_open or (after is not None and level > after[0]):
            continue  # counted only: a page already full, or a level on earlier pages
        start = (after[1], after[2]) if after is not None and level == after[0] else None
        need = limit - len(keys)
        if len(found) < n:  # all of this level's matches
            ordered = sorted(((at, ident) for ident, at in found), reverse=True)
            keys += [ident for at, ident in ordered if start is None or (at, ident) < start][:need]
        else:
            walk = level_query(alts, level=int(level), after=start, limit=need)
            keys += [ident for ident, _ in session.execute(walk)]
    rows = (
        {c.id: c for c in session.scalars(select(Conversation).where(Conversation.id.in_(keys)))}
        if keys
        else {}
    )
    return [rows[k] for k in keys if k in rows], Total(value=min(total, count_cap), exact=total <= count_cap)


def dissatisfaction_page(
    session: Session,
    where: list[ColumnElement[bool]],
    *,
    after: tuple[float, datetime, uuid.UUID] | None,
    limit: int,
    count_cap: int = COUNT_CAP,
) -> tuple[list[Conversation], Total]:
    """One page, most dissatisfied then newest first (`sort=dissatisfaction`), and the capped total.

    A walk of ix_conversations_dissatisfaction (dissatisfaction, started_at, id) backwards, the cursor a
    row comparison on it; unscored conversations (NULL) are excluded by `conditions`.
    """
    C = Conversation
    stmt = select(C).where(*where)
    if after is not None:
        stmt = stmt.where(tuple_(C.dissatisfaction, C.started_at, C.id) < tuple_(*after))
    order = (C.dissatisfaction.desc(), C.started_at.desc(), C.id.desc())
    rows = list(session.scalars(stmt.order_by(*order).limit(limit)))
    capped = select(C.id).where(*where).limit(count_cap + 1).subquery()
    total = session.scalar(select(func.count()).select_from(capped)) or 0
    return rows, Total(value=min(total, count_cap), exact=total <= count_cap)
