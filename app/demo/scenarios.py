"""How demo conversations are made from real JDDC sessions: agents, times, channels, and injected problems.

JDDC chats are ordinary and polite (the sensitive-word matcher flags 0.05 % of their agent turns), so a demo
made of them alone would show an empty queue. A share of them get one problem turn added, written the way
customers and agents really say these things, so every page of the console has something to show.
Pure: no database, no HTTP; `random.Random` seeded, so the same seed gives the same data.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

AGENTS = [f"A{n}" for n in range(1, 13)]
# Two agents have a harder time than the others, so the agent report and the queue differ by agent.
STRUGGLING = {"A3": 0.55, "A9": 0.45}
BASE_PROBLEM_RATE = 0.18

AGENT_PROBLEMS = [
    "不知道，你自己查",
    "这个不归我管，你找别人",
    "你爱买不买",
    "没办法",
    "说了多少遍了，你听不懂吗",
    "有病吧你",
]
CUSTOMER_PROBLEMS = [
    "再不处理我就去12315投诉你们",
    "我要向媒体曝光你们",
    "你们这是欺诈，我要去法院起诉",
    "气死我了，太差劲了！你们到底管不管",
    "等了三天了还没人理，我很生气",
]


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What `demo load` makes: `conversations` over the last `days` days ending at `now`."""

    conversations: int
    days: int
    seed: int
    now: datetime
    timezone: str


def read_sessions(path: Path) -> list[dict[str, Any]]:
    """JDDC sessions (one JSON object a line) with at least one customer and one agent turn."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            session = json.loads(line)
            roles = {t.get("role") for t in session.get("turns", [])}
            if {"customer", "agent"} <= roles:
                out.append(session)
    return out


def _utterances(turns: list[dict[str, Any]], rng: random.Random, *, phone: bool) -> list[dict[str, Any]]:
    """Turns with times: customers type or speak, agents answer after a pause (sometimes a slow one)."""
    out: list[dict[str, Any]] = []
    clock = 0
    for turn in turns[:40]:
        text = str(turn.get("text") or "").strip()[:500]
        if not text:
            continue
        speaker = "agent" if turn.get("role") == "agent" else "customer"
        if speaker == "agent":
            slow = rng.random() < 0.08
            clock += rng.randint(35_000, 120_000) if slow else rng.randint(3_000, 25_000 if phone else 45_000)
        else:
            clock += rng.randint(2_000, 15_000 if phone else 60_000)
        duration = max(1_000, len(text) * (250 if phone else 400))
        out.append({"speaker": speaker, "text": text, "start_ms": clock, "end_ms": clock + duration})
        clock += duration
    return out


def _inject(utterances: list[dict[str, Any]], rng: random.Random) -> None:
    """Add one problem turn: an agent's forbidden phrase, or a customer's threat or anger, mid-conversation."""
    speaker = "agent" if rng.random() < 0.5 else "customer"
    text = rng.choice(AGENT_PROBLEMS if speaker == "agent" else CUSTOMER_PROBLEMS)
    at = rng.randint(1, max(1, len(utterances) - 1))
    start = utterances[at - 1]["end_ms"] + rng.randint(2_000, 10_000)
    duration = len(text) * 300
    shift = start + duration + 1_000 - utterances[at]["start_ms"] if at < len(utterances) else 0
    for later in utterances[at:]:
        later["start_ms"] += shift
        later["end_ms"] += shift
    utterances.insert(at, {"speaker": speaker, "text": text, "start_ms": start, "end_ms": start + duration})


def _started_at(plan: DemoPlan, rng: random.Random) -> datetime:
    """A time in the centre's working hours (08:00–22:00 local) on one of the last `days` days."""
    zone = ZoneInfo(plan.timezone)
    local_now = plan.now.astimezone(zone)
    for _ in range(100):
        day = local_now.date() - timedelta(days=rng.randint(0, plan.days - 1))
        at = datetime(day.year, day.month, day.day, 8, tzinfo=zone) + timedelta(
            seconds=rng.randint(0, 14 * 3600)
        )
        if at < local_now - timedelta(minutes=30):
            return at
    return local_now - timedelta(hours=1)


def build(plan: DemoPlan, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ConversationCreate payloads, oldest first; external ids are stable, so loading twice adds nothing."""
    rng = random.Random(plan.seed)
    picked = rng.sample(sessions, min(plan.conversations, len(sessions)))
    out = []
    for n, session in enumerate(picked):
        agent = rng.choice(AGENTS)
        phone = rng.random() < 0.25
        utterances = _utterances(session["turns"], rng, phone=phone)
        if len(utterances) < 2:
            continue
        if rng.random() < STRUGGLING.get(agent, BASE_PROBLEM_RATE):
            _inject(utterances, rng)
            if rng.random() < 0.25:
                _inject(utterances, rng)
        out.append(
            {
                "external_id": f"demo-{session['session_id'][:12]}-{n}",
                "channel": "phone" if phone else "chat",
                "agent_id": agent,
                "customer_id": str(session.get("user_id") or "")[:100] or None,
                "started_at": _started_at(plan, rng).isoformat(),
                "utterances": utterances,
            }
        )
    return sorted(out, key=lambda c: c["started_at"])
