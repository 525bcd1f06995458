"""Load the abuse training and evaluation corpora: COLD, our customer-service examples and JDDC customer turns."""

from __future__ import annotations

import csv
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CS_EXAMPLES = Path(__file__).resolve().parent / "cs_examples.tsv"
# Share of COLD train held out (by a hash of its index) to choose the threshold and combination weight.
VALIDATION_BUCKETS = frozenset({0, 1})  # of 10


@dataclass(frozen=True, slots=True)
class Example:
    """One text labelled 1 (abuse / offensive) or 0, with the corpus it came from."""

    text: str
    label: int
    source: str


def _bucket(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 10


def load_cold(split: str, data_dir: Path = SHARED_DATA) -> list[Example]:
    """COLD rows of train.csv or dev.csv (`split` "train", "validation" or "dev"): label 1 offensive.

    "train" and "validation" divide COLD's own train.csv 8:2 by a hash of the row index; "dev" is COLD's dev.csv,
    our test set, scored once.
    """
    name = "dev.csv" if split == "dev" else "train.csv"
    out = []
    with (data_dir / "abuse" / "cold" / name).open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            text = row["TEXT"].strip()
            if not text:
                continue
            if split != "dev" and (
                (_bucket(f"cold:{row['']}") in VALIDATION_BUCKETS) != (split == "validation")
            ):
                continue
            out.append(Example(text, int(row["label"]), f"cold:{row['topic']}"))
    return out


def load_cs_examples(*, heldout: bool, path: Path = CS_EXAMPLES) -> list[Example]:
    """Our hand-written customer-service examples; rows marked `heldout` are kept out of training."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, part, speaker, text = line.split("\t", 3)
        if (part == "heldout") == heldout:
            out.append(Example(text.strip(), int(label), f"cs:{speaker}"))
    return out


def load_jddc_turns(*, speaker: str = "customer", data_dir: Path = SHARED_DATA) -> list[tuple[str, str]]:
    """(session id, text) of every non-empty turn of `speaker` in chat_0.1per.txt (col 3: 0 customer, 1 agent)."""
    flag = "0" if speaker == "customer" else "1"
    out = []
    with (data_dir / "dialogues" / "chat_0.1per.txt").open(encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 7 and cols[2] == flag and cols[-1].strip():
                out.append((cols[0], cols[-1].strip()))
    return out


def jddc_bucket(session_id: str) -> int:
    """The emotion model's session split: buckets 0-1 held out, 2-9 usable for training."""
    return _bucket(session_id)


def jddc_negatives(*, heldout: bool, limit: int | None = None, seed: int = 13) -> list[Example]:
    """JDDC customer turns (ordinary questions and complaints, label 0) from training or held-out sessions."""
    texts = sorted({t for sid, t in load_jddc_turns() if (jddc_bucket(sid) < 2) == heldout})
    random.Random(seed).shuffle(texts)
    return [Example(t, 0, "jddc") for t in texts[:limit]]
