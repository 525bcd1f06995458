"""Transcript payloads: hand-made ones and real JDDC sessions."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import SHARED_DATA


def utterance(
    speaker: str, text: str, start_ms: int | None = None, end_ms: int | None = None
) -> dict[str, Any]:
    """One utterance of a payload."""
    out: dict[str, Any] = {"speaker": speaker, "text": text}
    if start_ms is not None:
        out["start_ms"] = start_ms
    if end_ms is not None:
        out["end_ms"] = end_ms
    return out


def transcript(
    external_id: str,
    utterances: list[dict[str, Any]],
    *,
    channel: str = "chat",
    agent_id: str = "agent-007",
    started_at: str = "2026-11-20T09:30:00+08:00",
    customer_id: str | None = None,
) -> dict[str, Any]:
    """A ConversationCreate payload."""
    payload: dict[str, Any] = {
        "external_id": external_id,
        "channel": channel,
        "agent_id": agent_id,
        "started_at": started_at,
        "utterances": utterances,
    }
    if customer_id is not None:
        payload["customer_id"] = customer_id
    return payload


@cache
def jddc_sessions() -> tuple[dict[str, Any], ...]:
    """The 994 real JDDC customer-service sessions."""
    path = Path(SHARED_DATA) / "dialogues" / "jddc_sample_sessions.jsonl"
    with path.open(encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def jddc_transcript(n: int, *, external_id: str | None = None, agent_id: str = "agent-jd") -> dict[str, Any]:
    """Session number n of JDDC as a transcript payload (turns as they were)."""
    session = jddc_sessions()[n]
    utts = [utterance(t["role"], t["text"]) for t in session["turns"] if t["text"].strip()]
    return transcript(external_id or f"jddc-{session['session_id']}", utts, agent_id=agent_id)
