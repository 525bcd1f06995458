"""Daily report through the API: local days, top and rising keywords, daylight saving.

The data and helpers are in tests/app/test_reports_support.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.auth.service import create_key
from app.db.session import session_scope
from app.main import create_app
from app.schemas_common import configure_timezone
from tests.app.conftest import make_settings
from tests.app.test_reports_support import (
    PERIOD,
    SEVERITIES,
    Auth,
    get,
    seed,
)
from tests.factories.conversations import transcript, utterance


class TestDailyReport:
    def test_days_are_local_and_complete(self, client: TestClient, auth: Auth) -> None:
        convs = seed(client, auth)
        report = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        days = {d["day"]: d for d in report["days"]}
        assert list(days) == ["2026-11-20", "2026-11-21"]
        for day, exts in (("2026-11-20", ["a1-chat", "a1-phone"]), ("2026-11-21", ["a2-major", "a2-calm"])):
            mine = [convs[e] for e in exts]
            row = days[day]
            assert row["conversations"] == 2
            assert row["flagged"] == sum(c["flagged"] for c in mine)
            severities = Counter(c["severity"] for c in mine)
            assert row["severity_mix"] == {s: severities.get(s, 0) for s in SEVERITIES}
            assert row["mean_score"] == pytest.approx(round(sum(c["score"] for c in mine) / 2, 1))
            terms = Counter(k["term"] for c in mine for k in c["keywords"] if k["speaker"] == "customer")
            expected = sorted(terms.items(), key=lambda t: (-t[1], t[0]))[:10]
            assert [(k["term"], k["conversations"]) for k in row["top_keywords"]] == expected
        assert days["2026-11-20"]["by_channel"] == {"phone": 1, "chat": 1}
        # 00:30 on the 21st in Shanghai is still the 20th in UTC: grouped by the local day it belongs to.
        assert days["2026-11-21"]["by_channel"] == {"phone": 0, "chat": 2}

    def test_rising_keywords_against_the_previous_period(self, client: TestClient, auth: Auth) -> None:
        convs = seed(client, auth)
        report = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        assert report["previous_period"]["since"] == "2026-11-17T16:00:00Z"

        def customer_terms(exts: list[str]) -> Counter[str]:
            return Counter(
                k["term"] for e in exts for k in convs[e]["keywords"] if k["speaker"] == "customer"
            )

        now = customer_terms(["a1-chat", "a1-phone", "a2-major", "a2-calm"])
        before = customer_terms(["a1-before"])
        rising = [(t, n, before[t], n - before[t]) for t, n in now.items() if n > before[t]]
        rising.sort(key=lambda r: (-r[3], -r[1], r[0]))
        got = [(k["term"], k["conversations"], k["previous"], k["change"]) for k in report["rising_keywords"]]
        assert got == rising[:10]
        assert got  # the seed has keywords this period

    def test_a_quiet_period_lists_every_day_with_zeros(self, client: TestClient, auth: Auth) -> None:
        report = get(client, auth, "/v1/reports/daily?since=2026-11-01&until=2026-11-04")
        assert [d["day"] for d in report["days"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
        assert report["days"][0] == {
            "day": "2026-11-01",
            "conversations": 0,
            "by_channel": {"phone": 0, "chat": 0},
            "flagged": 0,
            "severity_mix": dict.fromkeys(SEVERITIES, 0),
            "mean_score": None,
            "top_keywords": [],
        }
        assert report["rising_keywords"] == []


class TestDaylightSaving:
    def test_days_follow_the_zone_across_a_clock_change(
        self, client: TestClient, backend_url: str, tmp_path: Path
    ) -> None:
        # New York falls back on 1 Nov 2026 at 02:00: 23:30 that evening is 04:30 UTC, the offset of the
        # period's start (-4 h) would put it on the 2nd.
        app = create_app(
            make_settings(tmp_path, backend_url, timezone="America/New_York", emotion_enabled=False)
        )
        try:
            with TestClient(app) as other:
                with session_scope(app.state.session_factory) as session:
                    _, ingest = create_key(session, name="ny-ingest", role="ingest")
                    _, reader = create_key(session, name="ny-auditor", role="auditor")
                for n, at in enumerate(
                    ("2026-10-31T23:30:00-04:00", "2026-11-01T23:30:00-05:00", "2026-11-02T00:30:00-05:00")
                ):
                    payload = transcript(
                        f"ny-{n}", [utterance("customer", "在吗"), utterance("agent", "您好")]
                    )
                    payload["started_at"] = at
                    resp = other.post(
                        "/v1/conversations", json=payload, headers={"Authorization": f"Bearer {ingest}"}
                    )
                    assert resp.status_code == 201, resp.text
                resp = other.get(
                    "/v1/reports/daily?since=2026-10-31&until=2026-11-03",
                    headers={"Authorization": f"Bearer {reader}"},
                )
            report = resp.json()
            assert report["period"]["timezone"] == "America/New_York"
            assert report["period"]["since"] == "2026-10-31T04:00:00Z"
            assert report["period"]["until"] == "2026-11-03T05:00:00Z"
            got = [(d["day"], d["conversations"]) for d in report["days"]]
            assert got == [("2026-10-31", 1), ("2026-11-01", 1), ("2026-11-02", 1)]
        finally:
            configure_timezone(client.app.state.settings.timezone)  # type: ignore[attr-defined]


class TestKeptDays:
    """A day's top keywords are kept between requests and ranked again as soon as the day changes."""

    @staticmethod
    def _top(report: dict[str, Any], day: str) -> list[tuple[str, int]]:
        row = next(d for d in report["days"] if d["day"] == day)
        return [(k["term"], k["conversations"]) for k in row["top_keywords"]]

    def test_a_new_conversation_changes_its_day_only(self, client: TestClient, auth: Auth) -> None:
        seed(client, auth)
        first = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        assert dict(self._top(first, "2026-11-20")).get("退货", 0) == 0
        extra = transcript(
            "late-return",
            [utterance("customer", "我要退货，退货地址是哪里"), utterance("agent", "您好，请稍等")],
            agent_id="a3",
            started_at="2026-11-20T15:00:00+08:00",
        )
        resp = client.post("/v1/conversations", json=extra, headers=auth["ingest"])
        assert resp.status_code == 201, resp.text
        terms = [k["term"] for k in resp.json()["keywords"] if k["speaker"] == "customer"]
        assert "退货" in terms
        second = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        assert dict(self._top(second, "2026-11-20"))["退货"] == 1
        assert self._top(second, "2026-11-21") == self._top(first, "2026-11-21")

    def test_part_of_a_day_is_not_taken_for_the_whole(self, client: TestClient, auth: Auth) -> None:
        convs = seed(client, auth)
        whole = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        # From noon on the 20th: a1-chat (10:00) is out, a1-phone (23:30) in.
        part = get(client, auth, "/v1/reports/daily?since=2026-11-20T12:00:00%2B08:00&until=2026-11-22")
        phone = Counter(k["term"] for k in convs["a1-phone"]["keywords"] if k["speaker"] == "customer")
        assert self._top(part, "2026-11-20") == sorted(phone.items(), key=lambda t: (-t[1], t[0]))[:10]
        assert self._top(part, "2026-11-20") != self._top(whole, "2026-11-20")
        again = get(client, auth, f"/v1/reports/daily?{PERIOD}")
        assert self._top(again, "2026-11-20") == self._top(whole, "2026-11-20")

    def test_unchanged_days_are_not_ranked_again(self, client: TestClient, auth: Auth) -> None:
        seed(client, auth)
        ranked: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "row_number() OVER" in statement:  # the per-day keyword ranking (queries.daily_top_keywords)
                ranked.append(statement)

        engine = client.app.state.engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", count)
        try:
            first = get(client, auth, f"/v1/reports/daily?{PERIOD}")
            again = get(client, auth, f"/v1/reports/daily?{PERIOD}")
            assert (len(ranked), again) == (1, first)  # the second answer came from the kept days
            resp = client.post(
                "/v1/conversations",
                json=transcript(
                    "one-more",
                    [utterance("customer", "退款什么时候到账")],
                    started_at="2026-11-21T09:00:00+08:00",
                ),
                headers=auth["ingest"],
            )
            assert resp.status_code == 201
            changed = get(client, auth, f"/v1/reports/daily?{PERIOD}")
            assert len(ranked) == 2  # the 21st changed: ranked again
            assert changed["days"][1]["conversations"] == first["days"][1]["conversations"] + 1
        finally:
            event.remove(engine, "before_cursor_execute", count)
