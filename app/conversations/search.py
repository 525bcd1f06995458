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
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, Select, and_, exists, func, literal, or_, select, tuple_
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
# Matches of one severity level fetched (unordered) before the level counts as dense and is walked in order.
PROBE = 3_000


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


@dataclass(frozen=True, slots=True)
class Total:
    """How many conversations match: exact, or (exact=False) at least `value`, the cap."""

    value: int
    exact: bool


def _like_pattern(q: str) -> str:
    # LIKE wildcards in the query are taken literally.
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_condition(q: str, dialect: str) -> ColumnElement[bool]:
    """Some utterance contains `q`: on PostgreSQL the bigram index first, then the row's own text."""
    C = Conversation
    pattern = _like_pattern(q)
    contains = exists().where(Utterance.conversation_id == C.id, Utterance.text.like(pattern, escape="\\"))
    if dialect != "postgresql":
        return contains
    indexed = C.search_grams.op("@@")(cast(literal(tsquery_literal(q)), TSQUERY))
    # The candidate's own `search_text` decides, without a subquery per candidate. Only a row the app has
    # not indexed yet (written by an older version during an upgrade) has neither column and falls back to
    # its utterances: coalesce evaluates that subquery for such rows alone.
    recheck = func.coalesce(C.search_text.like(pattern, escape="\\"), contains)
    if grams_decide(q):
        # NULL grams: too long to index, or not indexed yet
        return or_(indexed, and_(C.search_grams.is_(None), recheck))
    return and_(or_(indexed, C.search_grams.is_(None)), recheck)


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


def _level(level: int) -> ColumnElement[bool]:
    # Inlined, not a bound parameter: the planner then picks that level's partial GIN index (migration
    # 0007), which a generic plan of a prepared statement could not.
    return Conversation.severity == literal(level, Integer, literal_execute=True)


def probe_query(where: list[ColumnElement[bool]], *, level: int, limit: int) -> Select[uuid.UUID, datetime]:
    """Up to `limit` matches of one severity level, in no order (the cheapest plan: usually a bitmap)."""
    C = Conversation
    return select(C.id, C.started_at).where(*where, _level(level)).limit(limit)


def level_query(
    where: list[ColumnElement[bool]],
    *,
    level: int,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Select[uuid.UUID, datetime]:
    """The next `limit` matches of one severity level, newest first, after (started_at, id)."""
    C = Conversation
    stmt = select(C.id, C.started_at).where(*where, _level(level))
    if after is not None:
        # A row comparison (not an OR) so PostgreSQL reads it as a range of the (…, severity, started_at,
        # id) indexes.
        stmt = stmt.where(tuple_(C.started_at, C.id) < tuple_(*after))
    return stmt.order_by(C.started_at.desc(), C.id.desc()).limit(limit)


def page(
    session: Session,
    where: list[ColumnElement[bool]],
    *,
    after: tuple[int, datetime, uuid.UUID] | None,
    limit: int,
    count_cap: int = COUNT_CAP,
    min_level: int = 0,
    probe: int = PROBE,
) -> tuple[list[Conversation], Total]:
    """One page, most severe then newest first, after the keyset position `after`, and the capped total.

    Severity has four levels, so the work is done level by level, most severe first. Each level is probed
    for up to PROBE matches in whatever order is cheapest (a bitmap of that level's partial GIN index, an
    index range): if it holds no more, they are all its matches, sorted here; if it holds more, the filter
    is dense there, and a walk of the level newest first finds a page's worth within about
    limit * level size / PROBE rows. The planner alone could not be trusted with this: matches cluster by
    level (the severe complaints share few words with ordinary chats), its estimates do not know that, and
    it would walk every row of a level looking for matches that are not there. The probes also give the
    total, counted exactly up to `count_cap`. Only the page's keys travel until its rows are read whole.
    """
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
        found = [(ident, at) for ident, at in session.execute(probe_query(where, level=int(level), limit=n))]
        total += len(found)
        if not page_open or (after is not None and level > after[0]):
            continue  # counted only: a page already full, or a level on earlier pages
        start = (after[1], after[2]) if after is not None and level == after[0] else None
        need = limit - len(keys)
        if len(found) < n:  # all of this level's matches
            ordered = sorted(((at, ident) for ident, at in found), reverse=True)
            keys += [ident for at, ident in ordered if start is None or (at, ident) < start][:need]
        else:
            walk = level_query(where, level=int(level), after=start, limit=need)
            keys += [ident for ident, _ in session.execute(walk)]
    rows = (
        {c.id: c for c in session.scalars(select(Conversation).where(Conversation.id.in_(keys)))}
        if keys
        else {}
    )
    return [rows[k] for k in keys if k in rows], Total(value=min(total, count_cap), exact=total <= count_cap)
