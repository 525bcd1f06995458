"""Per-rule report through the API: hits, review outcomes and precision.

The data and helpers are in tests/app/test_reports_support.py.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.app.test_reports_support import (
    PERIOD,
    Auth,
    counted,
    get,
    seed,
)
from tests.factories.conversations import transcript, utterance


class TestRulesReport:
    def test_hits_and_review_outcomes_per_rule(self, client: TestClient, auth: Auth) -> None:
        convs = seed(client, auth)
        report = get(client, auth, f"/v1/reports/rules?{PERIOD}")
        assert report["min_reviews_for_precision"] == 5
        in_period = [convs[e] for e in ("a1-chat", "a1-phone", "a2-major", "a2-calm")]
        expected: dict[tuple[str, str], dict[str, Any]] = {}
        for conv in in_period:
            for f in counted(conv):
                row = expected.setdefault(
                    ("rule", f["rule"]), {"kind": f["kind"], "hits": 0, "convs": set(), "status": {}}
                )
                row["hits"] += 1
                row["convs"].add(conv["id"])
                row["status"][conv["id"]] = conv["review_status"]
                if f["kind"] == "sensitive_word":
                    cat = expected.setdefault(
                        ("category", f["category"]),
                        {"kind": f["kind"], "hits": 0, "convs": set(), "status": {}},
                    )
                    cat["hits"] += 1
                    cat["convs"].add(conv["id"])
                    cat["status"][conv["id"]] = conv["review_status"]
        got = {(r["group"], r["name"]): r for r in report["rules"]}
        assert set(got) == set(expected)
        for key, want in expected.items():
            statuses = list(want["status"].values())
            assert got[key] == {
                "group": key[0],
                "name": key[1],
                "kind": want["kind"],
                "hits": want["hits"],
                "conversations": len(want["convs"]),
                "reviewed": statuses.count("reviewed") + statuses.count("dismissed"),
                "confirmed": statuses.count("reviewed"),
                "dismissed": statuses.count("dismissed"),
                "precision": None,  # fewer than 5 reviewed conversations
                "overturned": 0,
            }, key
        assert got[("rule", "norm:slow_reply")]["dismissed"] == 1

    def test_precision_appears_after_five_reviews(self, client: TestClient, auth: Auth) -> None:
        ids = []
        for n in range(6):
            payload = transcript(
                f"refusal-{n}",
                [utterance("customer", "能便宜点吗"), utterance("agent", "不行")],
                agent_id="a9",
                started_at=f"2026-11-20T1{n}:00:00+08:00",
            )
            resp = client.post("/v1/conversations", json=payload, headers=auth["ingest"])
            assert any(f["rule"] == "norm:refusal" for f in resp.json()["findings"])
            ids.append(resp.json()["id"])

        def refusal() -> dict[str, Any]:
            rules = get(client, auth, f"/v1/reports/rules?{PERIOD}")["rules"]
            return next(r for r in rules if r["name"] == "norm:refusal")

        for cid, status in zip(ids[:4], ("reviewed", "reviewed", "reviewed", "dismissed"), strict=True):
            client.post(
                f"/v1/conversations/{cid}/review", json={"status": status}, headers=auth["supervisor"]
            )
        assert (refusal()["reviewed"], refusal()["precision"]) == (4, None)
        client.post(
            f"/v1/conversations/{ids[4]}/review", json={"status": "reviewed"}, headers=auth["supervisor"]
        )
        row = refusal()
        assert (row["hits"], row["reviewed"], row["confirmed"], row["dismissed"]) == (6, 5, 4, 1)
        assert row["precision"] == 0.8
