"""A finding overturned on appeal alerts no one, even when a rule added later matches it on re-analysis.

This module changes its own copy of the lexicons (alerts.yaml), so it has its own module-scoped app.
Fixtures and helpers: tests/app/test_alerts_fixtures.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.app import test_alerts_fixtures as fixtures
from tests.app.test_alerts_fixtures import RUDE, alerts, post

# The shared fixtures, found by pytest under these names (each module gets its own module-scoped ones).
rx, alert_lexicons, app, api, hdr = (
    fixtures.rx,
    fixtures.alert_lexicons,
    fixtures.app,
    fixtures.api,
    fixtures.hdr,
)

Headers = dict[str, dict[str, str]]
PROBE_RULE = "probe_rude_terms"


def _major(conv: dict[str, Any]) -> dict[str, Any]:
    """The conversation's one 重大 sensitive-word finding."""
    (finding,) = [f for f in conv["findings"] if f["kind"] == "sensitive_word" and f["severity"] == "major"]
    return finding


def _overturn(api: TestClient, hdr: Headers, conv: dict[str, Any], finding: dict[str, Any]) -> None:
    resp = api.post(
        f"/v1/conversations/{conv['id']}/appeals",
        json={"finding_id": finding["id"], "reason": "客户要求自助查询"},
        headers=hdr["agent"],
    )
    assert resp.status_code == 201, resp.text
    decided = api.post(
        f"/v1/appeals/{resp.json()['id']}/decision", json={"decision": "overturn"}, headers=hdr["supervisor"]
    )
    assert decided.status_code == 200, decided.text


def _add_probe_rule(api: TestClient, hdr: Headers, lexicons: Path, term: str) -> str:
    """Append a rule matching `term` to the module's alerts.yaml and reload; returns the file as it was."""
    path = lexicons / "alerts.yaml"
    before = path.read_text(encoding="utf-8")
    assert PROBE_RULE not in before
    rule = f"\n  - id: {PROBE_RULE}\n    name: 探针规则\n    severity: 重要\n    findings:\n      terms: [{term}]\n"
    path.write_text(before.rstrip("\n") + "\n" + rule, encoding="utf-8")
    assert api.post("/v1/admin/lexicons/reload", headers=hdr["admin"]).status_code == 200
    return before


class TestOverturnedFindings:
    def test_reanalysis_with_a_new_matching_rule_alerts_only_the_finding_still_standing(
        self, api: TestClient, hdr: Headers, alert_lexicons: Path
    ) -> None:
        overturned = post(api, hdr, "overturn-1", RUDE, agent_id="a7")
        standing = post(api, hdr, "overturn-2", RUDE, agent_id="a7")
        finding = _major(overturned)
        assert _major(standing)["term"] == finding["term"]
        _overturn(api, hdr, overturned, finding)
        before = _add_probe_rule(api, hdr, alert_lexicons, finding["term"])
        try:
            for conv in (overturned, standing):
                resp = api.post(f"/v1/conversations/{conv['id']}/reanalyze", headers=hdr["admin"])
                assert resp.status_code == 200, resp.text
            after = api.get(f"/v1/conversations/{overturned['id']}", headers=hdr["supervisor"]).json()
            refound = [f for f in after["findings"] if f["term"] == finding["term"]]
            assert [f["overturned_at"] is not None for f in refound] == [
                True
            ]  # found again, still overturned
            probes = alerts(api, hdr, rule=PROBE_RULE)
            # The same finding, not overturned, alerts under the new rule: the rule does match it.
            assert [a["external_id"] for a in probes] == ["overturn-2"]
        finally:
            (alert_lexicons / "alerts.yaml").write_text(before, encoding="utf-8")
            assert api.post("/v1/admin/lexicons/reload", headers=hdr["admin"]).status_code == 200
