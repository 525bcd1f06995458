"""The demo data plan (`audit demo load`): real JDDC sessions, varied agents and times, stable ids."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.demo.scenarios import AGENT_PROBLEMS, CUSTOMER_PROBLEMS, DemoPlan, build, read_sessions

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def plan(now: datetime = NOW, seed: int = 7) -> DemoPlan:
    return DemoPlan(conversations=300, days=21, seed=seed, now=now, timezone="Asia/Shanghai")


class TestDemoPlan:
    def test_three_hundred_real_sessions_spread_over_agents_days_and_channels(
        self, shared_data: Path
    ) -> None:
        sessions = read_sessions(shared_data / "dialogues" / "jddc_sample_sessions.jsonl")
        assert len(sessions) == 994
        convs = build(plan(), sessions)
        assert len(convs) == 300
        assert len({c["external_id"] for c in convs}) == 300
        agents = Counter(c["agent_id"] for c in convs)
        assert set(agents) == {f"A{n}" for n in range(1, 13)}
        channels = Counter(c["channel"] for c in convs)
        assert 40 <= channels["phone"] <= 110
        zone = ZoneInfo("Asia/Shanghai")
        starts = [datetime.fromisoformat(c["started_at"]).astimezone(zone) for c in convs]
        assert all(8 <= s.hour < 22 for s in starts)
        assert all(NOW - timedelta(days=21) < s < NOW for s in starts)
        assert len({s.date() for s in starts}) == 21
        assert starts == sorted(starts)
        # Turns keep their order in time, and every turn's text is JDDC's own or one problem line.
        problems = set(AGENT_PROBLEMS) | set(CUSTOMER_PROBLEMS)
        injected = 0
        by_id = {s["session_id"][:12]: s for s in sessions}
        for c in convs:
            times = [(u["start_ms"], u["end_ms"]) for u in c["utterances"]]
            assert all(a < b for a, b in times)
            assert all(times[i][0] >= times[i - 1][1] for i in range(1, len(times)))
            real = {t["text"].strip()[:500] for t in by_id[c["external_id"][5:].rsplit("-", 1)[0]]["turns"]}
            extra = [u["text"] for u in c["utterances"] if u["text"] not in real]
            assert set(extra) <= problems
            injected += bool(extra)
        # About a fifth carry a problem, more for the two struggling agents.
        assert 50 <= injected <= 100

    def test_same_seed_same_ids_whenever_it_runs(self, shared_data: Path) -> None:
        sessions = read_sessions(shared_data / "dialogues" / "jddc_sample_sessions.jsonl")
        first = {c["external_id"] for c in build(plan(), sessions)}
        later = {c["external_id"] for c in build(plan(now=NOW + timedelta(days=3)), sessions)}
        assert first == later  # a second `demo load` adds nothing twice
        assert first != {c["external_id"] for c in build(plan(seed=8), sessions)}
