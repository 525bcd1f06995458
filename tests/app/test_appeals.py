"""Appeals (申诉) and the agent role through the API: an agent sees only its own work and contests a
finding; a supervisor upholds or overturns it; an overturned finding stops counting, even after re-analysis."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.auth.service import hash_key
from app.settings import REPO_ROOT
from tests.factories.conversations import transcript, utterance

Auth = dict[str, dict[str, str]]

# The agent brushes the customer off: 服务禁语 不知道 (一般) and 你自己看 (重要) in one turn, flagged. The
# customer's disappointed reply is clearly sad (calibrated 0.8 with this model and the one before it), so
# the empathy norm's finding does not hang on how sure a model is of a bare 好吧.
BRUSH_OFF = [
    utterance("agent", "您好，很高兴为您服务"),
    utterance("customer", "我的快递怎么还没到"),
    utterance("agent", "不知道，你自己查"),
    utterance("customer", "好吧，算了，真失望"),
    utterance("agent", "请问还有什么可以帮您，祝您生活愉快"),
]
PHONE = "13812345678"
AUDIT = str(REPO_ROOT / ".venv" / "bin" / "audit")


def _post(client: TestClient, auth: Auth, external_id: str, agent_id: str = "A7") -> dict[str, Any]:
    resp = client.post(
        "/v1/conversations",
        json=transcript(external_id, BRUSH_OFF, agent_id=agent_id),
        headers=auth["ingest"],
    )
    assert resp.status_code == 201
    body: dict[str, Any] = resp.json()
    return body


def _finding(conv: dict[str, Any], term: str) -> dict[str, Any]:
    return next(f for f in conv["findings"] if f["kind"] == "sensitive_word" and f["term"] == term)


def _appeal(client: TestClient, auth: Auth, conv_id: str, finding_id: str, role: str = "agent") -> Any:
    return client.post(
        f"/v1/conversations/{conv_id}/appeals",
        json={"finding_id": finding_id, "reason": f"客户自己要求查询，我的电话{PHONE}可以核实"},
        headers=auth[role],
    )


class TestAgentKeys:
    def test_agent_role_needs_an_agent_id_and_only_it(self, client: TestClient, auth: Auth) -> None:
        missing = client.post("/v1/admin/keys", json={"name": "a", "role": "agent"}, headers=auth["admin"])
        assert (missing.status_code, missing.json()["error"]["code"]) == (422, "agent_id_required")
        other = client.post(
            "/v1/admin/keys",
            json={"name": "s", "role": "supervisor", "agent_id": "A7"},
            headers=auth["admin"],
        )
        assert (other.status_code, other.json()["error"]["code"]) == (422, "agent_id_not_allowed")
        made = client.post(
            "/v1/admin/keys", json={"name": "小王", "role": "agent", "agent_id": "A8"}, headers=auth["admin"]
        )
        assert made.status_code == 201
        assert (made.json()["role"], made.json()["agent_id"]) == ("agent", "A8")


class TestAgentScope:
    def test_agent_reads_only_its_own_conversations(self, client: TestClient, auth: Auth) -> None:
        own = _post(client, auth, "own-1")
        theirs = _post(client, auth, "theirs-1", agent_id="A9")
        assert client.get(f"/v1/conversations/{own['id']}", headers=auth["agent"]).status_code == 200
        hidden = client.get(f"/v1/conversations/{theirs['id']}", headers=auth["agent"])
        missing = client.get("/v1/conversations/00000000-0000-0000-0000-000000000000", headers=auth["agent"])
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
        # Another agent's conversation is neither listed nor reachable through its agent_id filter.
        for query in ("", "?agent_id=A9", "?flagged=true"):
            page = client.get(f"/v1/conversations{query}", headers=auth["agent"]).json()
            assert [c["id"] for c in page["items"]] == [own["id"]]
            assert page["total"] == 1
        assert client.get("/v1/conversations?agent_id=A9", headers=auth["auditor"]).json()["total"] == 1

    def test_agent_sees_no_review_notes_and_no_audio(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth, "own-2")
        reviewed = client.post(
            f"/v1/conversations/{conv['id']}/review",
            json={"status": "reviewed", "note": "口头警告一次"},
            headers=auth["supervisor"],
        )
        assert reviewed.status_code == 200
        seen = client.get(f"/v1/conversations/{conv['id']}", headers=auth["agent"]).json()
        assert (seen["review_status"], seen["reviews"]) == ("reviewed", [])
        assert (
            len(client.get(f"/v1/conversations/{conv['id']}", headers=auth["supervisor"]).json()["reviews"])
            == 1
        )
        assert client.get(f"/v1/conversations/{conv['id']}/reviews", headers=auth["agent"]).status_code == 403
        assert client.get(f"/v1/conversations/{conv['id']}/audio", headers=auth["agent"]).status_code == 403


class TestFileAppeal:
    def test_one_open_appeal_per_finding_own_findings_only(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth, "ap-1")
        other = _post(client, auth, "ap-2", agent_id="A9")
        finding = _finding(conv, "你自己看")
        filed = _appeal(client, auth, conv["id"], finding["id"])
        assert filed.status_code == 201
        body = filed.json()
        assert (body["status"], body["agent_id"], body["finding_id"]) == ("open", "A7", finding["id"])
        assert (body["created_by"], body["decided_by"]) == ("test-agent", None)
        assert PHONE not in body["reason"]  # stored masked like every free text
        assert body["finding"]["term"] == "你自己看"
        again = _appeal(client, auth, conv["id"], finding["id"])
        assert (again.status_code, again.json()["error"]["code"]) == (409, "appeal_open")
        # Another agent's conversation: 404 as if it did not exist; a finding of another conversation: 404.
        theirs = _appeal(client, auth, other["id"], _finding(other, "你自己看")["id"])
        assert (theirs.status_code, theirs.json()["error"]["code"]) == (404, "not_found")
        foreign = _appeal(client, auth, conv["id"], _finding(other, "不知道")["id"], role="supervisor")
        assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "finding_not_found")
        # A supervisor may file for the other agent; the appeal belongs to that agent.
        for_a9 = _appeal(client, auth, other["id"], _finding(other, "你自己看")["id"], role="supervisor")
        assert (for_a9.status_code, for_a9.json()["agent_id"], for_a9.json()["created_by"]) == (
            201,
            "A9",
            "test-supervisor",
        )

    def test_lists_scoped_by_role(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth, "ap-3")
        other = _post(client, auth, "ap-4", agent_id="A9")
        assert _appeal(client, auth, conv["id"], _finding(conv, "你自己看")["id"]).status_code == 201
        assert (
            _appeal(client, auth, other["id"], _finding(other, "不知道")["id"], "supervisor").status_code
            == 201
        )
        everyone = client.get("/v1/appeals?status=open", headers=auth["supervisor"]).json()
        assert (everyone["total"], {a["agent_id"] for a in everyone["items"]}) == (2, {"A7", "A9"})
        assert client.get("/v1/appeals?agent_id=A9", headers=auth["auditor"]).json()["total"] == 1
        mine = client.get("/v1/appeals?agent_id=A9", headers=auth["agent"]).json()
        assert [a["agent_id"] for a in mine["items"]] == ["A7"]
        assert client.get("/v1/appeals?status=overturned", headers=auth["supervisor"]).json()["total"] == 0
        first = client.get("/v1/appeals?limit=1", headers=auth["supervisor"]).json()
        second = client.get(
            f"/v1/appeals?limit=1&cursor={first['next_cursor']}", headers=auth["supervisor"]
        ).json()
        assert (first["items"][0]["agent_id"], second["items"][0]["agent_id"], second["next_cursor"]) == (
            "A9",
            "A7",
            None,
        )  # newest first
        bad = client.get("/v1/appeals?cursor=nope", headers=auth["supervisor"])
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_cursor")
        history = client.get(f"/v1/conversations/{conv['id']}/appeals", headers=auth["agent"])
        assert [a["status"] for a in history.json()] == ["open"]
        assert (
            client.get(f"/v1/conversations/{other['id']}/appeals", headers=auth["agent"]).status_code == 404
        )
        assert (
            client.get(f"/v1/conversations/{conv['id']}/appeals", headers=auth["ingest"]).status_code == 403
        )


class TestDecide:
    def test_overturn_rescores_and_keeps_history(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth, "dec-1")
        assert (conv["score"], conv["severity"], conv["flagged"]) == (65.0, "important", True)
        appeal = _appeal(client, auth, conv["id"], _finding(conv, "你自己看")["id"]).json()
        refused = client.post(
            f"/v1/appeals/{appeal['id']}/decision", json={"decision": "overturn"}, headers=auth["agent"]
        )
        assert refused.status_code == 403
        decided = client.post(
            f"/v1/appeals/{appeal['id']}/decision",
            json={"decision": "overturn", "note": "客户确实要求自助查询"},
            headers=auth["supervisor"],
        )
        assert decided.status_code == 200
        body = decided.json()
        assert (body["appeal"]["status"], body["appeal"]["decided_by"]) == ("overturned", "test-supervisor")
        assert body["appeal"]["decided_at"] is not None
        # The 重要 hit (-15) no longer counts: 一般 severity, 80 points, off the queue.
        assert body["conversation"] == {
            "id": conv["id"],
            "score": 80.0,
            "severity": "general",
            "flagged": False,
        }
        read = client.get(f"/v1/conversations/{conv['id']}", headers=auth["agent"]).json()
        assert (read["score"], read["severity"], read["flagged"]) == (80.0, "general", False)
        assert read["score_breakdown"]["total"] == 80.0
        overturned = [f["term"] for f in read["findings"] if f["overturned_at"] is not None]
        assert overturned == ["你自己看"]
        assert [(a["status"], a["decision_note"]) for a in read["appeals"]] == [
            ("overturned", "客户确实要求自助查询")
        ]
        assert client.get(f"/v1/conversations/{conv['id']}", headers=auth["ingest"]).json()["appeals"] == []
        twice = client.post(
            f"/v1/appeals/{appeal['id']}/decision", json={"decision": "uphold"}, headers=auth["supervisor"]
        )
        assert (twice.status_code, twice.json()["error"]["code"]) == (409, "appeal_decided")
        closed = _appeal(client, auth, conv["id"], _finding(conv, "你自己看")["id"])
        assert (closed.status_code, closed.json()["error"]["code"]) == (409, "finding_overturned")

    def test_uphold_changes_nothing_but_the_appeal(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth, "dec-2")
        appeal = _appeal(client, auth, conv["id"], _finding(conv, "不知道")["id"]).json()
        decided = client.post(
            f"/v1/appeals/{appeal['id']}/decision", json={"decision": "uphold"}, headers=auth["admin"]
        ).json()
        assert decided["appeal"]["status"] == "upheld"
        assert decided["conversation"] == {
            "id": conv["id"],
            "score": 65.0,
            "severity": "important",
            "flagged": True,
        }
        # Upheld is closed: the agent may appeal the finding again (one open appeal at a time).
        assert _appeal(client, auth, conv["id"], _finding(conv, "不知道")["id"]).status_code == 201

    def test_reanalysis_keeps_an_overturned_finding_overturned(self, client: TestClient, auth: Auth) -> None:
        conv = _post(client, auth, "dec-3")
        contested = _finding(conv, "你自己看")
        appeal = _appeal(client, auth, conv["id"], contested["id"]).json()
        client.post(
            f"/v1/appeals/{appeal['id']}/decision", json={"decision": "overturn"}, headers=auth["supervisor"]
        )
        again = client.post(f"/v1/conversations/{conv['id']}/reanalyze", headers=auth["admin"])
        assert again.status_code == 200
        body = again.json()
        new = _finding(body, "你自己看")
        assert new["id"] != contested["id"]  # re-analysis writes new finding rows
        assert new["overturned_at"] is not None
        assert _finding(body, "不知道")["overturned_at"] is None
        assert (body["score"], body["severity"], body["flagged"]) == (80.0, "general", False)
        assert [a["finding_id"] for a in body["appeals"]] == [new["id"]]
        assert new["rules_version"]


class TestAgentKeyCli:
    def test_keys_create_binds_an_agent(self, tmp_path: Path) -> None:
        env = {
            **os.environ,
            "AUDIT_DATA_DIR": str(tmp_path),
            "AUDIT_MODEL_DIR": str(REPO_ROOT / "var" / "models"),
            "AUDIT_DATABASE_URL": "",
        }

        def audit(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [AUDIT, *args], env=env, capture_output=True, text=True, timeout=300, check=False
            )

        assert audit("db", "upgrade").returncode == 0
        unbound = audit("keys", "create", "--role", "agent")
        assert (unbound.returncode, "needs an agent_id" in unbound.stderr) == (2, True)
        made = audit("keys", "create", "--role", "agent", "--agent-id", "A7")
        assert made.returncode == 0
        assert "agent key" in made.stderr
        engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT role, agent_id, key_hash FROM api_keys")).all()
        engine.dispose()
        assert [(r[0], r[1]) for r in rows] == [("agent", "A7")]
        assert rows[0][2] == hash_key(made.stdout.strip())
