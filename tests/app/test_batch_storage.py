"""A batch stores exactly what posting its items one by one stores (issue 14: the bulk storage path)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.db import Alert, Conversation, Finding, Keyword, Utterance
from app.db.session import session_scope
from tests.factories.conversations import jddc_transcript, transcript, utterance

RUDE_CALL = [
    utterance("customer", "你好，我的快递三天了还没到，单号查不到", 0, 4000),
    utterance("agent", "不知道，你自己查物流吧", 9000, 11000),
    utterance("customer", "什么态度！我要投诉你们，再不处理我就打12315", 12000, 16000),
    utterance("customer", "我的电话是13812345678，邮箱zhang.san@example.com，赶紧给我回电", 16500, 19000),
]

# Columns that differ between two posts of the same transcript by nature: ids, times, the external id
# (and the payload fingerprint, which covers it).
_PER_POST = {
    "id",
    "conversation_id",
    "external_id",
    "payload_sha256",
    "created_at",
    "updated_at",
    "analysed_at",
}
_ALERT_PER_POST = _PER_POST | {"dedup_key", "title", "summary", "details"}


def _payloads(prefix: str) -> list[dict[str, Any]]:
    rude = transcript(f"{prefix}-rude", RUDE_CALL, channel="phone", customer_id="13912345678")
    return [rude] + [jddc_transcript(n, external_id=f"{prefix}-jd{n}") for n in range(6)]


# The emotion model run over a batch pads its inputs: its probabilities differ from one-by-one runs in the
# 7th digit (torch's float noise, not storage). Model outputs are compared within 1e-5, the rest exactly.
_MODEL_OUTPUTS = {
    "emotion_confidence",
    "emotion_probs",
    "emotion_summary",
    "customer_emotion_peak_confidence",
    "dissatisfaction",
    "dissatisfaction_turns",
}


def _store_old(client: TestClient, auth: dict[str, dict[str, str]], session_index: int) -> str:
    """A JDDC session stored before the test's posts under external id "old" (what a re-post finds); its id."""
    resp = client.post(
        "/v1/conversations", json=jddc_transcript(session_index, external_id="old"), headers=auth["ingest"]
    )
    assert resp.status_code == 201
    return str(resp.json()["id"])


def _near(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=0, abs=1e-5)
    if isinstance(value, dict):
        return {k: _near(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_near(v) for v in value]
    return value


def _columns(row: object, skip: set[str], *, near: bool) -> dict[str, Any]:
    table = row.__table__  # type: ignore[attr-defined]
    values = {c.key: getattr(row, c.key) for c in table.columns if c.key not in skip}
    return {k: _near(v) if near and k in _MODEL_OUTPUTS else v for k, v in values.items()}


def _stored(session: Session, external_id: str, *, near: bool = False) -> dict[str, Any]:
    """Everything stored for one conversation, without what differs per post by nature.

    `near`: the model's outputs as `pytest.approx` values, to compare with another conversation's.
    """
    conv = session.scalars(select(Conversation).where(Conversation.external_id == external_id)).one()
    children = {}
    for model, order in (
        (Utterance, Utterance.index),
        (Finding, Finding.position),
        (Keyword, Keyword.position),
    ):
        rows = session.scalars(select(model).where(model.conversation_id == conv.id).order_by(order))
        children[model.__tablename__] = [_columns(r, _PER_POST, near=near) for r in rows]
    alerts = session.scalars(select(Alert).where(Alert.conversation_id == conv.id).order_by(Alert.rule))
    return {
        "conversation": _columns(conv, _PER_POST, near=near),
        **children,
        "alerts": [_columns(a, _ALERT_PER_POST, near=near) for a in alerts],
    }


class TestBatchStoresWhatSinglePostsStore:
    def test_same_rows_as_one_by_one(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        for payload in _payloads("one"):
            assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201
        batch = client.post(
            "/v1/conversations/batch", json={"conversations": _payloads("many")}, headers=auth["ingest"]
        )
        assert batch.status_code == 200
        assert batch.json()["created"] == 7

        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory, read_only=True) as session:
            for one, many in zip(_payloads("one"), _payloads("many"), strict=True):
                single = _stored(session, one["external_id"])
                batched = _stored(session, many["external_id"], near=True)
                assert batched == single
            rude = _stored(session, "one-rude")
        # The comparison covers what matters: masked text and PII findings, offsets, keywords, alerts,
        # and the search columns (filled on PostgreSQL only).
        assert "13812345678" not in rude["utterances"][3]["text"]
        assert rude["conversation"]["customer_id"] != "13912345678"
        assert [f["category"] for f in rude["findings"] if f["kind"] == "pii"] == ["mobile", "email"]
        assert len(rude["keywords"]) > 0
        assert len(rude["alerts"]) > 0
        if client.app.state.engine.dialect.name == "postgresql":  # type: ignore[attr-defined]
            with session_scope(factory, read_only=True) as session:
                texts = session.scalars(
                    select(Conversation.search_text).where(
                        Conversation.external_id.in_(["one-rude", "many-rude"])
                    )
                ).all()
            assert len(texts) == 2
            assert texts[0] == texts[1]
            assert texts[0] is not None
            assert "不知道，你自己查物流吧" in texts[0]

    def test_repeats_and_conflicts_within_a_batch(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        old_id = _store_old(client, auth, 1)
        items = [
            jddc_transcript(2, external_id="new"),
            jddc_transcript(1, external_id="old"),  # stored before: existing
            jddc_transcript(2, external_id="new"),  # repeated within the batch: existing
            jddc_transcript(3, external_id="old"),  # different content under a stored id: conflict
        ]
        resp = client.post("/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"])
        assert resp.status_code == 200
        body = resp.json()
        assert [r["status"] for r in body["results"]] == ["created", "existing", "existing", "error"]
        assert body["results"][3]["error"]["code"] == "conflict"
        assert body["results"][0]["id"] == body["results"][2]["id"]
        assert body["results"][1]["id"] == old_id
        reference = client.post(
            "/v1/conversations", json=jddc_transcript(2, external_id="ref"), headers=auth["ingest"]
        )
        assert reference.status_code == 201

        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory, read_only=True) as session:
            assert _stored(session, "new", near=True) == _stored(session, "ref")
            assert session.scalars(
                select(Conversation.status).where(Conversation.external_id == "new")
            ).one() == ("analysed")


# A result the database refuses for one conversation only (as a constraint would), whatever the backend.
_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_result BEFORE UPDATE OF status ON conversations "
        "WHEN NEW.external_id = 'bad' AND NEW.status = 'analysed' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_result() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ "
        "LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_result BEFORE UPDATE OF status ON conversations FOR EACH ROW "
        "WHEN (NEW.external_id = 'bad' AND NEW.status = 'analysed') EXECUTE FUNCTION refuse_result()",
    ],
}
_REFUSAL_ERROR = {"sqlite": "IntegrityError", "postgresql": "RaiseException"}  # the driver's exception
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_result"],
    "postgresql": ["DROP TRIGGER refuse_result ON conversations", "DROP FUNCTION refuse_result()"],
}


class TestOneRefusedResultSpoilsNoOther:
    """The batch's results are stored together; when that fails, each is stored on its own."""

    def test_refused_result_marked_failed_others_stored_once(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        dialect = client.app.state.engine.dialect.name  # type: ignore[attr-defined]
        with session_scope(factory) as session:
            for statement in _REFUSE[dialect]:
                session.execute(text(statement))
        try:
            items = [transcript("good-rude", RUDE_CALL), *_payloads("x")[1:3]]
            items.insert(1, jddc_transcript(4, external_id="bad"))
            resp = client.post(
                "/v1/conversations/batch", json={"conversations": items}, headers=auth["ingest"]
            )
        finally:
            with session_scope(factory) as session:
                for statement in _ALLOW[dialect]:
                    session.execute(text(statement))
        assert resp.status_code == 200
        assert [r["status"] for r in resp.json()["results"]] == ["created"] * 4
        for payload in (transcript("ref-rude", RUDE_CALL), *_payloads("ref")[1:3]):
            assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201

        with session_scope(factory, read_only=True) as session:
            bad = session.scalars(select(Conversation).where(Conversation.external_id == "bad")).one()
            assert (bad.status, bad.analysis_error) == (
                "failed",
                f"could not store the audit result: {_REFUSAL_ERROR[dialect]}",
            )
            assert session.scalars(select(Finding.id).where(Finding.conversation_id == bad.id)).all() == []
            assert session.scalars(select(Keyword.id).where(Keyword.conversation_id == bad.id)).all() == []
            # The others are stored exactly as single posts store them: no row twice, none missing.
            for good, ref in (("good-rude", "ref-rude"), ("x-jd0", "ref-jd0"), ("x-jd1", "ref-jd1")):
                assert _stored(session, good, near=True) == _stored(session, ref)


class TestConcurrentPostsStoreWhatSequentialPostsStore:
    """Single posts arriving together are stored as a group (app.conversations.coalesce), or one by one."""

    def test_same_rows_and_answers_as_sequential_posts(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        old_id = _store_old(client, auth, 5)
        fresh = _payloads("wave")  # 7 new transcripts
        wave = [
            *fresh,
            fresh[1],  # posted twice at once: stored once
            jddc_transcript(5, external_id="old"),  # stored before: returned as it is
            jddc_transcript(4, external_id="old"),  # different content under a stored id: refused
        ]
        start = threading.Barrier(len(wave))

        def post(payload: dict[str, Any]) -> tuple[int, Any]:
            start.wait()
            resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
            return resp.status_code, resp.json()

        with ThreadPoolExecutor(len(wave)) as pool:
            answers = list(pool.map(post, wave))
        for payload in _payloads("seq"):
            assert client.post("/v1/conversations", json=payload, headers=auth["ingest"]).status_code == 201

        statuses = [status for status, _ in answers]
        assert [s for i, s in enumerate(statuses[:7]) if i != 1] == [201] * 6
        assert sorted([statuses[1], statuses[7]]) == [200, 201]  # the twice-posted one: created once
        assert answers[1][1]["id"] == answers[7][1]["id"]
        assert statuses[8:] == [200, 409]
        assert answers[8][1]["id"] == old_id
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with session_scope(factory, read_only=True) as session:
            assert session.scalar(select(func.count()).select_from(Conversation)) == 1 + 7 + 7
            for (status, body), seq in zip(answers[:7], _payloads("seq"), strict=True):
                stored = _stored(session, body["external_id"], near=True)
                assert stored == _stored(session, seq["external_id"])
                assert stored["conversation"]["status"] == "analysed"
                if status == 201:
                    # The answer shows what is stored: findings and keywords, in order.
                    assert [f["term"] for f in body["findings"]] == [f["term"] for f in stored["findings"]]
                    assert [k["term"] for k in body["keywords"]] == [k["term"] for k in stored["keywords"]]
