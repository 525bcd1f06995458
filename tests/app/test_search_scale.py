"""Search built for millions of rows keeps its meaning: `q` is still an exact substring search, the cursor
pages through ties exactly once, totals are exact up to a cap and say when they are not."""

from __future__ import annotations

import os
import random
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.conversations import repository, search
from app.conversations.search import ConversationFilters
from app.conversations.search_text import grams, tsvector_literal
from app.db import Conversation
from app.db.migrate import downgrade, upgrade
from app.db.session import make_engine, make_session_factory, session_scope
from tests.conftest import ensure_postgres
from tests.factories.conversations import jddc_transcript, transcript, utterance


def _post(client: TestClient, auth: dict[str, dict[str, str]], payloads: list[dict[str, Any]]) -> None:
    resp = client.post("/v1/conversations/batch", json={"conversations": payloads}, headers=auth["ingest"])
    assert resp.status_code == 200, resp.text
    assert resp.json()["created"] == len(payloads)


def _q(client: TestClient, auth: dict[str, dict[str, str]], query: str, **params: Any) -> list[str]:
    resp = client.get(
        "/v1/conversations", params={"q": query, "limit": 200, **params}, headers=auth["auditor"]
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(body["items"])
    assert body["total_exact"] is True
    return sorted(i["external_id"] for i in body["items"])


class TestSubstringSearch:
    def test_matches_what_a_substring_scan_finds_on_real_chats(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        payloads = [jddc_transcript(n, external_id=f"jd-{n}") for n in range(40)]
        _post(client, auth, payloads)
        texts = {p["external_id"]: [u["text"] for u in p["utterances"]] for p in payloads}
        rng = random.Random(7)
        queries = {"您好", "亲", "?", "订单", "[订单x]", "x]", "的", "。"}
        while len(queries) < 40:  # substrings of stored text, cut anywhere (not at word boundaries)
            text = rng.choice(rng.choice(list(texts.values())))
            size = rng.choice([1, 2, 3, 5])
            if len(text) > size:
                start = rng.randrange(0, len(text) - size)
                queries.add(text[start : start + size])
        for query in sorted(queries):
            if not query.strip():
                continue
            expected = sorted(ext for ext, utts in texts.items() if any(query in t for t in utts))
            assert _q(client, auth, query) == expected, query

    def test_cut_across_words_special_characters_and_utterance_ends(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        _post(
            client,
            auth,
            [
                transcript(
                    "a", [utterance("customer", "再不退款我就给差评然后投诉"), utterance("agent", "好的")]
                ),
                transcript(
                    "b", [utterance("customer", "it's 100% a\\b_c 'quoted'"), utterance("agent", "嗯")]
                ),
                transcript("c", [utterance("customer", "我要退"), utterance("agent", "款已经到账")]),
            ],
        )
        assert _q(client, auth, "评然") == ["a"]  # not a jieba word: still a substring
        assert _q(client, auth, "诉") == ["a"]  # the last character of an utterance
        assert _q(client, auth, "退款") == ["a"]  # "退" ends one utterance, "款" starts the next: no match
        assert _q(client, auth, "嗯") == ["b"]  # a one-character utterance
        assert _q(client, auth, "100%") == ["b"]
        assert _q(client, auth, "a\\b_c") == ["b"]
        assert _q(client, auth, "'quoted'") == ["b"]
        assert _q(client, auth, "s 1") == ["b"]
        assert _q(client, auth, "0%a") == []  # % and _ are literal, not wildcards
        assert _q(client, auth, "a_b") == []

    def test_rows_not_yet_indexed_are_still_found(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        """A row written before the migration's backfill reached it (NULL grams) is checked by its text."""
        _post(client, auth, [transcript("old", [utterance("customer", "发票什么时候开")])])
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            session.execute(update(Conversation).values(search_grams=None))
        assert _q(client, auth, "发票") == ["old"]
        assert _q(client, auth, "发票", agent_id="nobody") == []


class TestGramsFollowTheText:
    def test_written_with_the_utterances_on_postgresql(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        _post(client, auth, [transcript("g", [utterance("customer", "快递到了"), utterance("agent", "好")])])
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            grams = session.scalar(select(Conversation.search_grams))
            dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            assert grams == "'了' '到了' '好' '快递' '快递到' '递到' '递到了'"
        else:  # SQLite searches the text itself
            assert grams is None


class TestCursorAndTotals:
    def test_ties_in_severity_and_time_are_paged_exactly_once(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        same = "2026-11-20T09:30:00+08:00"
        _post(
            client,
            auth,
            [transcript(f"t{i}", [utterance("customer", "在吗")], started_at=same) for i in range(5)],
        )
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(6):
            params: dict[str, Any] = {"limit": 2, "q": "在吗"}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/conversations", params=params, headers=auth["auditor"]).json()
            assert page["total"] == 5
            seen += [i["external_id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == [f"t{i}" for i in range(5)]
        assert len(seen) == 5

    def test_total_is_exact_up_to_the_cap_then_says_so(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        _post(client, auth, [transcript(f"c{i}", [utterance("customer", "在吗")]) for i in range(4)])
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        filters = ConversationFilters(q="在吗")
        with session_scope(factory) as session:
            rows, _, capped = repository.search(session, filters=filters, cursor=None, limit=1, count_cap=2)
            _, _, exact = repository.search(session, filters=filters, cursor=None, limit=1, count_cap=4)
        assert len(rows) == 1
        assert (capped.value, capped.exact) == (2, False)
        assert (exact.value, exact.exact) == (4, True)


class TestMigrationBackfill:
    def test_existing_rows_get_the_grams_the_app_writes(self) -> None:
        """Rows stored before migration 0007 are indexed by it (PostgreSQL), exactly as new rows are."""
        import psycopg

        name = os.environ.get("AUDIT_TEST_PG_DB", "audit_test") + "_mig0007"
        ensure_postgres()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        upgrade(url, "0006")
        texts = {"a": ["再不退款我就给差评", "好的"], "b": []}  # b: a recording not transcribed yet
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            for ext, utts in texts.items():
                cid = uuid.uuid4()
                conn.execute(
                    "INSERT INTO conversations (id, external_id, payload_sha256, source, channel, agent_id, "
                    "started_at, updated_at, status, severity, flagged, review_status, created_at) VALUES "
                    "(%s, %s, 'x', 'transcript', 'chat', 'a1', now(), now(), 'analysed', 0, false, "
                    "'unreviewed', now())",
                    (cid, ext),
                )
                for i, text in enumerate(utts):
                    conn.execute(
                        "INSERT INTO utterances (id, conversation_id, index, speaker, text) "
                        "VALUES (%s, %s, %s, 'customer', %s)",
                        (uuid.uuid4(), cid, i, text),
                    )
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            found = session.execute(select(Conversation.external_id, Conversation.search_grams))
            stored = dict(list(found))
            assert stored == {ext: tsvector_literal(grams(utts) or set()) for ext, utts in texts.items()}
            rows, _, total = repository.search(
                session, filters=ConversationFilters(q="退款"), cursor=None, limit=10
            )
            assert [r.external_id for r in rows] == ["a"]
            assert (total.value, total.exact) == (1, True)
        engine.dispose()
        downgrade(url, "0006")  # and back: the migration is reversible


class TestDenseLevels:
    def test_walking_a_dense_level_pages_like_sorting_a_sparse_one(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        """A level with more matches than the probe takes is walked in order; same pages, same totals."""
        items = [
            transcript(
                f"d{i}",
                [
                    utterance("customer", "再这样我要投诉你们" if i % 3 == 0 else "在吗"),
                    utterance("agent", "好的"),
                ],
                started_at=f"2026-11-{10 + i % 4:02d}T09:30:00+08:00",  # ties in time within a level
            )
            for i in range(12)
        ]
        _post(client, auth, items)
        factory = client.app.state.session_factory  # type: ignore[attr-defined]

        def pages(probe: int, limit: int) -> tuple[list[list[str]], list[tuple[int, bool]]]:
            out, totals = [], []
            after = None
            with session_scope(factory) as session:
                where = search.conditions(
                    ConversationFilters(q="好的"), dialect=session.get_bind().dialect.name
                )
                while True:
                    rows, total = search.page(
                        session, where, after=after, limit=limit + 1, count_cap=2, probe=probe
                    )
                    out.append([r.external_id for r in rows[:limit]])
                    totals.append((total.value, total.exact))
                    if len(rows) <= limit:
                        return out, totals
                    last = rows[limit - 1]
                    after = (last.severity, last.started_at, last.id)

        sorted_pages, sorted_totals = pages(probe=1000, limit=5)
        walked_pages, walked_totals = pages(probe=1, limit=5)
        assert walked_pages == sorted_pages
        assert sorted(x for p in sorted_pages for x in p) == sorted(f"d{i}" for i in range(12))
        assert sorted_totals == [(2, False)] * 3
        assert walked_totals == sorted_totals
