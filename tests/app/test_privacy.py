"""Free text people type (review notes, customer ids, key names) is stored and returned masked; ingest sees no notes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import ApiKey, Base, Conversation, Review
from app.db.session import session_scope
from app.settings import REPO_ROOT
from tests.factories.conversations import transcript, utterance

PHONE = "13812345678"
MASKED_PHONE = "138****5678"


def _stored(client: TestClient) -> tuple[list[str | None], list[str | None], list[str]]:
    """Customer ids, review notes and key names as they are in the database."""
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory) as s:
        return (
            list(s.scalars(select(Conversation.customer_id))),
            list(s.scalars(select(Review.note))),
            list(s.scalars(select(ApiKey.name))),
        )


def _post(client: TestClient, auth: dict[str, dict[str, str]], **kwargs: Any) -> dict[str, Any]:
    payload = transcript(
        "priv-1", [utterance("customer", "快递还没到"), utterance("agent", "您好，我帮您查一下")], **kwargs
    )
    resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


class TestCustomerId:
    def test_phone_number_stored_and_returned_masked(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        created = _post(client, auth, customer_id=PHONE)
        assert created["customer_id"] == MASKED_PHONE
        one = client.get(f"/v1/conversations/{created['id']}", headers=auth["auditor"]).json()
        listed = client.get("/v1/conversations", headers=auth["auditor"]).json()["items"]
        assert (one["customer_id"], [c["customer_id"] for c in listed]) == (MASKED_PHONE, [MASKED_PHONE])
        assert _stored(client)[0] == [MASKED_PHONE]

    def test_ordinary_id_kept(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        assert _post(client, auth, customer_id="c-1001")["customer_id"] == "c-1001"
        assert _stored(client)[0] == ["c-1001"]


class TestReviewNotes:
    def test_note_stored_and_returned_masked(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conv = _post(client, auth)
        note = f"客户留了电话{PHONE}，已回访"
        resp = client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "reviewed", "note": note},
            headers=auth["supervisor"],
        )
        assert resp.status_code == 200
        expected = f"客户留了电话{MASKED_PHONE}，已回访"
        assert [h["note"] for h in resp.json()["history"]] == [expected]
        history = client.get(f"/v1/conversations/{conv['id']}/reviews", headers=auth["auditor"]).json()
        assert [h["note"] for h in history["history"]] == [expected]
        full = client.get(f"/v1/conversations/{conv['id']}", headers=auth["supervisor"]).json()
        assert [r["note"] for r in full["reviews"]] == [expected]
        assert _stored(client)[1] == [expected]
        assert PHONE not in str(_stored(client)) + resp.text + str(history) + str(full)

    def test_ingest_reads_the_conversation_without_notes(
        self, client: TestClient, auth: dict[str, dict[str, str]]
    ) -> None:
        conv = _post(client, auth)
        client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "dismissed", "note": "误报"},
            headers=auth["supervisor"],
        )
        for role, count in (("ingest", 0), ("supervisor", 1), ("auditor", 1), ("admin", 1)):
            body = client.get(f"/v1/conversations/{conv['id']}", headers=auth[role]).json()
            assert len(body["reviews"]) == count, role
        # Re-posting the same transcript returns the conversation to ingest: still without notes.
        payload = transcript(
            "priv-1", [utterance("customer", "快递还没到"), utterance("agent", "您好，我帮您查一下")]
        )
        again = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
        assert (again.status_code, again.json()["reviews"]) == (200, [])
        notes = client.get(f"/v1/conversations/{conv['id']}/reviews", headers=auth["ingest"])
        assert notes.status_code == 403


class TestKeyNames:
    def test_key_name_masked(self, client: TestClient, auth: dict[str, dict[str, str]]) -> None:
        resp = client.post(
            "/v1/admin/keys", json={"name": f"张三 {PHONE}", "role": "supervisor"}, headers=auth["admin"]
        )
        name = resp.json()["name"]
        assert (name.startswith("张三"), MASKED_PHONE in name, PHONE in name) == (True, True, False)
        assert name in _stored(client)[2]
        assert all(PHONE not in stored for stored in _stored(client)[2])


AUDIT = Path(sys.executable).with_name("audit")
CORPUS = REPO_ROOT / "tests" / "pipelines" / "data" / "pii_corpus.jsonl"


def _corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]


def _raw_values(cases: list[dict[str, Any]]) -> set[str]:
    """Every personal value of the corpus as it was written, and as its bare digits (when it has them)."""
    values = {v["raw"] for c in cases for v in c["pii"]}
    return values | {v["value"] for c in cases for v in c["pii"] if v["value"].isdigit()}


def _database_rows(client: TestClient) -> str:
    """Every row of every table, as text."""
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    with session_scope(factory, read_only=True) as s:
        return "\n".join(
            json.dumps(list(row), ensure_ascii=False, default=str)
            for table in Base.metadata.sorted_tables
            for row in s.execute(select(table))
        )


def _sqlite_bytes(url: str) -> str:
    """The SQLite database files (WAL included) as they lie on disk: deleted or old row versions too.

    Read by another process: closing a descriptor of the database file in this one would drop every POSIX lock
    SQLite holds on it here (SQLite's documented pitfall), and the next process to connect would then reset the
    WAL index under this process's open connections ("disk I/O error" in later tests).
    """
    db = Path(url.removeprefix("sqlite:///"))
    files = [p for p in (db, db.with_name(db.name + "-wal")) if p.is_file()]
    return "\n".join(
        subprocess.run(["cat", str(p)], capture_output=True, check=True).stdout.decode(
            "utf-8", errors="replace"
        )
        for p in files
    )


class TestCorpusLeavesNoTrace:
    """Issue 9: the database, search and export hold no raw value of the PII corpus after it is posted."""

    def test_no_raw_value_stored_found_or_exported(
        self, client: TestClient, auth: dict[str, dict[str, str]], backend_url: str, tmp_path: Path
    ) -> None:
        cases = [c for c in _corpus() if c["pii"]]
        texts = [c["text"] for c in cases]
        phones = [v["raw"] for c in cases for v in c["pii"] if v["kind"] == "mobile" and v["raw"].isdigit()]
        ids = []
        for n, start in enumerate(range(0, len(texts), 50)):
            chunk = [utterance("customer", t) for t in texts[start : start + 50]]
            payload = transcript(f"pii-corpus-{n}", chunk, customer_id=phones[n])
            resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
            assert resp.status_code == 201, resp.text
            ids.append(resp.json()["id"])
        note = {"status": "reviewed", "note": f"客户留了{phones[0]}和{texts[1]}"}
        assert (
            client.post(
                f"/v1/conversations/{ids[0]}/review", json=note, headers=auth["supervisor"]
            ).status_code
            == 200
        )
        raw = _raw_values(cases)
        assert len(ids) == 5
        assert len(raw) == 369

        rows = _database_rows(client)
        assert sorted(v for v in raw if v in rows) == []
        if backend_url.startswith("sqlite"):
            # Page bytes hold hashes and binary data where a short digit string can occur by chance.
            on_disk = _sqlite_bytes(backend_url)
            assert sorted(v for v in raw if len(v) >= 9 and v in on_disk) == []
        found = {
            p: client.get("/v1/conversations", params={"q": p}, headers=auth["auditor"]).json()["total"]
            for p in phones[:20]
        }
        assert found == dict.fromkeys(phones[:20], 0)
        env = {**os.environ, "AUDIT_DATABASE_URL": backend_url, "AUDIT_DATA_DIR": str(tmp_path)}
        for fmt in ("jsonl", "csv"):
            exported = subprocess.run(
                [str(AUDIT), "export", "--format", fmt],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            ).stdout
            assert exported.count("\n") > 250  # one row per finding: every masked value is a finding
            assert sorted(v for v in raw if v in exported) == []
