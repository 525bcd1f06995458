"""STC-3 dialogues as product conversations, their dissatisfaction labels and the held-out split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.emotion.setup import REPO_ROOT

DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "dialogues"
STC3_PATH = DATA_DIR / "stc3" / "stc3_dev.jsonl"
JDDC_PATH = DATA_DIR / "jddc_sample_sessions.jsonl"
# mean S (customer satisfaction, -2..2 over 19 annotators) at or below this = the customer left dissatisfied
DISSATISFIED_MEAN_S = -0.5
HELDOUT_BUCKETS = (
    20  # of 100: sha256(dialogue id) buckets 0..19 are the held-out 20 %, never trained or tuned on
)


@dataclass(frozen=True, slots=True)
class Dialogue:
    """One conversation as the product sees it: (speaker, text) per utterance, a label where annotated."""

    id: str
    utterances: tuple[tuple[str, str], ...]  # speaker is "customer" or "agent"
    label: int  # 1 dissatisfied, 0 not, -1 unlabelled (JDDC)
    mean_s: float | None = None


def bucket(dialogue_id: str) -> int:
    """Stable 0..99 bucket of a dialogue id (file order and Python's hash seed play no part)."""
    return int(hashlib.sha256(dialogue_id.encode()).hexdigest()[:8], 16) % 100


def is_heldout(dialogue_id: str) -> bool:
    """True for the 20 % of dialogues kept for evaluation only."""
    return bucket(dialogue_id) < HELDOUT_BUCKETS


def load_stc3(path: Path = STC3_PATH) -> list[Dialogue]:
    """Every STC-3 dialogue, each helpdesk/customer utterance as one product utterance, in order."""
    out = []
    for dialogue in _jsonl(path):
        utts = tuple(
            ("customer" if turn["sender"] == "customer" else "agent", text.strip())
            for turn in dialogue["turns"]
            for text in turn["utterances"]
            if text.strip()
        )
        scores = [a["quality"]["S"] for a in dialogue["annotations"]]
        mean_s = sum(scores) / len(scores)
        out.append(Dialogue(str(dialogue["id"]), utts, int(mean_s <= DISSATISFIED_MEAN_S), mean_s))
    return out


def load_jddc(path: Path = JDDC_PATH) -> list[Dialogue]:
    """The 994 JDDC sessions (real e-commerce chats, unlabelled): the false-positive check."""
    return [
        Dialogue(
            str(s["session_id"]),
            tuple(
                ("customer" if t["role"] == "customer" else "agent", t["text"].strip())
                for t in s["turns"]
                if t["text"].strip()
            ),
            -1,
        )
        for s in _jsonl(path)
    ]


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
