"""Rule tuning through the API: the dry-run of a candidate change (nothing stored), and stored rule versions
applied, rolled back, loaded at start-up and followed by another process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import delete

from app.auth.service import create_key
from app.db import Base
from app.db.session import session_scope
from app.main import create_app
from app.settings import REPO_ROOT
from tests.app.conftest import make_settings
from tests.factories.conversations import transcript, utterance

Auth = dict[str, dict[str, str]]

# A polite chat but for 等着吧, which no lexicon lists yet: not flagged today.
WAIT = [
    utterance("agent", "您好，很高兴为您服务"),
    utterance("customer", "我的快递什么时候到"),
    utterance("agent", "等着吧，快了"),
    utterance("customer", "好的谢谢"),
    utterance("agent", "请问还有什么可以帮您，祝您生活愉快"),
]
# One mild slip (不知道, 一般): a few points off, not flagged today.
MILD = [
    utterance("agent", "您好，很高兴为您服务"),
    utterance("customer", "我的快递到哪了"),
    utterance("agent", "不知道呢，我帮您查一下"),
    utterance("customer", "好的谢谢"),
    utterance("agent", "请问还有什么可以帮您，祝您生活愉快"),
]
BRUSH_OFF = [
    utterance("agent", "您好，很高兴为您服务"),
    utterance("customer", "我的快递怎么还没到"),
    utterance("agent", "不知道，你自己查"),
    utterance("customer", "好吧，算了，真失望"),  # clearly sad: the empathy finding below needs it
    utterance("agent", "请问还有什么可以帮您，祝您生活愉快"),
]
NEW_TERM = {"category": "服务禁语", "term": "等着吧", "severity": "重要", "scope": "agent"}
FILE_RULES = (REPO_ROOT / "lexicons" / "rules.yaml").read_text(encoding="utf-8")


def _rules_with(score_below: int) -> str:
    doc = yaml.safe_load(FILE_RULES)
    doc["flag"]["score_below"] = score_below
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _dry_run(client: TestClient, auth: Auth, body: dict[str, Any], role: str = "supervisor") -> Any:
    return client.post("/v1/rules/test", json=body, headers=auth[role])


class TestDryRunOnTranscripts:
    def test_a_new_lexicon_term_gains_findings_and_flags(self, client: TestClient, auth: Auth) -> None:
        body = {
            "lexicon_entries": [NEW_TERM],
            "transcripts": [transcript("w-1", WAIT), transcript("b-1", BRUSH_OFF)],
        }
        resp = _dry_run(client, auth, body)
        assert resp.status_code == 200
        out = resp.json()
        assert (out["conversations"], out["truncated"]) == (2, False)
        assert (out["findings_gained"], out["findings_lost"]) == (1, 0)
        assert (out["newly_flagged"], out["unflagged"]) == (1, 0)
        (rule,) = out["rules"]
        assert (rule["kind"], rule["rule"], rule["category"]) == (
            "sensitive_word",
            "lexicon:服务禁语",
            "服务禁语",
        )
        assert (rule["gained"], rule["lost"], rule["conversations"]) == (1, 0, 1)
        (example,) = rule["examples"]
        assert example["change"] == "gained"
        assert example["conversation"] == {"index": 0, "conversation_id": None, "external_id": "w-1"}
        assert (example["utterance_index"], example["utterance"], example["term"]) == (
            2,
            "等着吧，快了",
            "等着吧",
        )
        assert (example["start"], example["end"], example["severity"]) == (0, 3, "important")
        (flag,) = out["flag_changes"]
        assert (flag["change"], flag["conversation"]["index"], flag["severity_after"]) == (
            "newly_flagged",
            0,
            "important",
        )
        assert flag["score_after"] < flag["score_before"]
        assert out["candidate"]["lexicon_version"] == "candidate"
        assert out["current"]["rules_version"] == out["candidate"]["rules_version"]

    def test_removing_a_term_loses_its_findings(self, client: TestClient, auth: Auth) -> None:
        body = {
            "lexicon_remove": [{"category": "服务禁语", "term": "你自己看"}],
            "transcripts": [transcript("b-2", BRUSH_OFF)],
        }
        out = _dry_run(client, auth, body, role="auditor").json()
        assert (out["findings_gained"], out["findings_lost"], out["unflagged"]) == (0, 1, 1)
        assert [(r["rule"], r["lost"]) for r in out["rules"]] == [("lexicon:服务禁语", 1)]
        assert out["rules"][0]["examples"][0]["term"] == "你自己看"

    def test_a_rule_patch_changes_flags_not_findings(self, client: TestClient, auth: Auth) -> None:
        body = {"rules_patch": {"flag.score_below": 100}, "transcripts": [transcript("w-2", MILD)]}
        out = _dry_run(client, auth, body).json()
        assert (out["findings_gained"], out["findings_lost"], out["rules"]) == (0, 0, [])
        assert (out["newly_flagged"], out["unflagged"]) == (1, 0)
        assert out["candidate"]["rules_version"] == "candidate"
        # Disabling a norm (null removes it) loses that norm's findings.
        greeting_missing = [utterance("customer", "在吗"), utterance("agent", "等着吧")]
        body = {"rules_patch": {"norms.greeting": None}, "transcripts": [transcript("w-3", greeting_missing)]}
        out = _dry_run(client, auth, body).json()
        assert [(r["rule"], r["gained"], r["lost"]) for r in out["rules"]] == [("norm:greeting", 0, 1)]


class TestDryRunOnStoredConversations:
    def test_period_refers_to_stored_ids_and_stores_nothing(self, client: TestClient, auth: Auth) -> None:
        stored = client.post("/v1/conversations", json=transcript("s-1", WAIT), headers=auth["ingest"]).json()
        client.post(
            "/v1/conversations",
            json=transcript("s-old", WAIT, started_at="2026-10-01T09:00:00+08:00"),
            headers=auth["ingest"],
        )
        body = {"lexicon_entries": [NEW_TERM], "since": "2026-11-20", "until": "2026-11-21"}
        out = _dry_run(client, auth, body).json()
        assert out["conversations"] == 1
        (example,) = out["rules"][0]["examples"]
        assert example["conversation"] == {"index": 0, "conversation_id": stored["id"], "external_id": "s-1"}
        after = client.get(f"/v1/conversations/{stored['id']}", headers=auth["supervisor"]).json()
        assert (after["score"], after["flagged"], after["findings"]) == (
            stored["score"],
            False,
            stored["findings"],
        )
        one = _dry_run(client, auth, {**body, "since": "2026-09-01", "limit": 1}).json()
        assert (one["conversations"], one["truncated"]) == (1, True)


class TestDryRunLimits:
    @pytest.mark.parametrize(
        "body",
        [
            {"transcripts": [transcript("x", WAIT)]},  # nothing to test
            {"lexicon_entries": [NEW_TERM]},  # no input
            {"lexicon_entries": [NEW_TERM], "transcripts": [transcript("x", WAIT)], "since": "2026-11-01"},
            {"rules_yaml": FILE_RULES, "rules_patch": {"flag.score_below": 1}, "since": "2026-11-01"},
        ],
    )
    def test_contradictory_requests_are_422(
        self, client: TestClient, auth: Auth, body: dict[str, Any]
    ) -> None:
        resp = _dry_run(client, auth, body)
        assert (resp.status_code, resp.json()["error"]["code"]) == (422, "validation_error")

    def test_invalid_candidates_are_422_invalid_rules(self, client: TestClient, auth: Auth) -> None:
        for change in (
            {"rules_yaml": "flag: [1, 2"},
            {"rules_yaml": "flag: {min_severity: 重要, score_below: 60}"},  # no norms, no scoring
            {"rules_patch": {"flag.score_below": 500}},
            {"rules_patch": {"nowhere.at.all": 1}},
            {"lexicon_entries": [{**NEW_TERM, "severity": "极其严重"}]},
            {"lexicon_remove": [{"category": "服务禁语", "term": "从未有过"}]},
        ):
            resp = _dry_run(client, auth, {**change, "transcripts": [transcript("x", WAIT)]})
            assert (resp.status_code, resp.json()["error"]["code"]) == (422, "invalid_rules"), change

    def test_over_the_size_limits_is_413(self, client: TestClient, auth: Auth) -> None:
        over = _dry_run(client, auth, {"lexicon_entries": [NEW_TERM], "since": "2026-11-01", "limit": 101})
        assert (over.status_code, over.json()["error"]["code"]) == (413, "payload_too_large")
        many = [transcript(f"m-{i}", WAIT) for i in range(101)]
        over = _dry_run(client, auth, {"lexicon_entries": [NEW_TERM], "transcripts": many})
        assert over.status_code == 413
        long = [transcript(f"l-{i}", [utterance("customer", "好")] * 2000) for i in range(2)]
        over = _dry_run(client, auth, {"lexicon_entries": [NEW_TERM], "transcripts": long})
        assert (over.status_code, over.json()["error"]["message"]) == (
            413,
            "4000 utterances; one rule test takes at most 3000",
        )

    def test_roles(self, client: TestClient, auth: Auth) -> None:
        body = {"lexicon_entries": [NEW_TERM], "transcripts": [transcript("x", WAIT)]}
        assert _dry_run(client, auth, body, role="admin").status_code == 200
        for role in ("ingest", "agent"):
            assert _dry_run(client, auth, body, role=role).status_code == 403


@pytest.fixture
def own_app(backend_url: str, tmp_path: Path, client: TestClient) -> Iterator[tuple[TestClient, Auth]]:
    """An app of its own on the backend's database (rule versions change the runtime), and its admin key.

    Depends on `client` so the shared app's clean-up empties the tables after the test, versions included.
    """
    del client
    app = create_app(make_settings(tmp_path, backend_url, rules_poll_seconds=0))
    with TestClient(app) as own:
        with session_scope(app.state.session_factory) as s:
            _, admin = create_key(s, name="qa-lead", role="admin")
            _, ingest = create_key(s, name="qa-system", role="ingest")
        yield (
            own,
            {"admin": {"Authorization": f"Bearer {admin}"}, "ingest": {"Authorization": f"Bearer {ingest}"}},
        )
        with session_scope(app.state.session_factory) as s:
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(delete(table))


def _post(client: TestClient, auth: Auth, external_id: str) -> dict[str, Any]:
    resp = client.post("/v1/conversations", json=transcript(external_id, MILD), headers=auth["ingest"])
    assert resp.status_code == 201
    body: dict[str, Any] = resp.json()
    return body


class TestRuleVersions:
    def test_apply_roll_back_and_follow(self, own_app: tuple[TestClient, Auth], tmp_path: Path) -> None:
        client, auth = own_app
        empty = client.get("/v1/admin/rules/versions", headers=auth["admin"]).json()
        file_version = empty["rules_version"]
        assert (empty["active_version"], empty["items"]) == (None, [])
        assert {f["rules_version"] for f in _post(client, auth, "v-0")["findings"]} == {file_version}

        bad = client.post("/v1/admin/rules/versions", json={"yaml": "flag: {"}, headers=auth["admin"])
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_rules")
        assert client.get("/v1/admin/rules/versions", headers=auth["admin"]).json()["items"] == []

        made = client.post(
            "/v1/admin/rules/versions",
            json={"yaml": _rules_with(100), "note": "flag everything for a week"},
            headers=auth["admin"],
        )
        assert made.status_code == 201
        v2 = made.json()
        assert (v2["version"], v2["active"], v2["created_by"], v2["note"]) == (
            2,
            True,
            "qa-lead",
            "flag everything for a week",
        )
        listed = client.get("/v1/admin/rules/versions", headers=auth["admin"]).json()
        assert (listed["active_version"], listed["rules_version"]) == (2, "v2")
        assert [(v["version"], v["active"]) for v in listed["items"]] == [(2, True), (1, False)]
        assert listed["items"][1]["yaml"] == FILE_RULES  # the file is the seed version
        flagged = _post(client, auth, "v-2")
        assert flagged["flagged"] is True
        assert {f["rules_version"] for f in flagged["findings"]} == {"v2"}

        # Another process on the same database follows at its next audit; a new one loads it at start-up.
        url = client.app.state.settings.database_url  # type: ignore[attr-defined]
        other_app = create_app(make_settings(tmp_path / "other", url, rules_poll_seconds=0))
        with TestClient(other_app) as other:
            seen = other.get("/v1/admin/rules/versions", headers=auth["admin"]).json()
            assert seen["rules_version"] == "v2"
            back = client.post(
                f"/v1/admin/rules/versions/{listed['items'][1]['id']}/activate", headers=auth["admin"]
            )
            assert (back.status_code, back.json()["version"], back.json()["active"]) == (200, 1, True)
            rolled = other.post(
                "/v1/conversations", json=transcript("v-1", MILD), headers=auth["ingest"]
            ).json()
        assert rolled["flagged"] is False
        assert {f["rules_version"] for f in rolled["findings"]} == {"v1"}
        assert client.get("/v1/admin/rules/versions", headers=auth["admin"]).json()["active_version"] == 1

    def test_unknown_version_is_404(self, own_app: tuple[TestClient, Auth]) -> None:
        client, auth = own_app
        resp = client.post(
            "/v1/admin/rules/versions/00000000-0000-0000-0000-000000000000/activate", headers=auth["admin"]
        )
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "rule_version_not_found")


class TestAppealAcrossRuleChange:
    def test_a_finding_the_new_rules_drop_keeps_its_appeal_history(
        self, own_app: tuple[TestClient, Auth]
    ) -> None:
        client, auth = own_app
        conv = client.post(
            "/v1/conversations", json=transcript("r-1", BRUSH_OFF), headers=auth["ingest"]
        ).json()
        empathy = next(f for f in conv["findings"] if f["rule"] == "norm:empathy")
        filed = client.post(
            f"/v1/conversations/{conv['id']}/appeals",
            json={"finding_id": empathy["id"], "reason": "客户并无负面情绪"},
            headers=auth["admin"],
        )
        assert filed.status_code == 201
        doc = yaml.safe_load(FILE_RULES)
        del doc["norms"]["empathy"]
        no_empathy = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
        assert (
            client.post(
                "/v1/admin/rules/versions", json={"yaml": no_empathy}, headers=auth["admin"]
            ).status_code
            == 201
        )
        again = client.post(f"/v1/conversations/{conv['id']}/reanalyze", headers=auth["admin"]).json()
        assert [f for f in again["findings"] if f["rule"] == "norm:empathy"] == []
        (appeal,) = again["appeals"]
        assert (appeal["finding_id"], appeal["finding"]["rule"], appeal["status"]) == (
            None,
            "norm:empathy",
            "open",
        )
        gone = client.post(
            f"/v1/appeals/{appeal['id']}/decision", json={"decision": "overturn"}, headers=auth["admin"]
        )
        assert (gone.status_code, gone.json()["error"]["code"]) == (409, "finding_gone")
        closed = client.post(
            f"/v1/appeals/{appeal['id']}/decision",
            json={"decision": "uphold", "note": "规则已改"},
            headers=auth["admin"],
        )
        assert (closed.status_code, closed.json()["appeal"]["status"]) == (200, "upheld")
