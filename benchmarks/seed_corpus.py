"""The seeder's corpus: real dialogues audited once by the real pipeline, cached as JSON.

    .venv/bin/python -m benchmarks.seed_corpus [--source jddc|stc3] [--no-emotion]   # (re)build the cache

The audit (masking, sensitive words, service norms, keywords, emotion, abuse, score) runs once over each
source, in batches like `POST /v1/conversations/batch`; `benchmarks.seed_pg` then replicates these outcomes
under varied ids, agents and dates, so seeding costs I/O, not model time. Nothing here is invented:
categories, severities, flags, keywords and emotions are what the product itself produced for that text.
Sources: the 994 JDDC e-commerce chats (ordinary service talk: 1 of them is flagged) and the 2,958 STC-3
customer-helpdesk complaint dialogues (real complaints, where escalation threats and anger do occur), which
`seed_pg` mixes in so that the supervisor queue is not nearly empty.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import time
from pathlib import Path
from typing import Any

from app.settings import REPO_ROOT, Settings
from pipelines import types as pt
from pipelines.audit import mask_conversation

DIALOGUES = REPO_ROOT.parent / "shared" / "data" / "dialogues"
JDDC = DIALOGUES / "jddc_sample_sessions.jsonl"
STC3 = DIALOGUES / "stc3" / "stc3_dev.jsonl"
CACHE_DIR = REPO_ROOT / "var" / "seed"
_BATCH = 50


def _stc3() -> list[tuple[str, pt.Conversation]]:
    out = []
    for line in STC3.open(encoding="utf-8"):
        if not line.strip():
            continue
        d = json.loads(line)
        texts = [
            ("customer" if t["sender"] == "customer" else "agent", u)
            for t in d["turns"]
            for u in t["utterances"]
            if str(u).strip()
        ]
        if texts:
            utts = tuple(
                pt.Utterance(i, who, text[:5000])  # type: ignore[arg-type]  # customer or agent
                for i, (who, text) in enumerate(texts)
            )
            out.append((f"stc3-{d['id']}", pt.Conversation("chat", utts)))
    return out


def _jddc() -> list[tuple[str, pt.Conversation]]:
    out = []
    for line in JDDC.open(encoding="utf-8"):
        if not line.strip():
            continue
        s = json.loads(line)
        turns = [t for t in s["turns"] if str(t["text"]).strip()]
        if turns:
            utts = tuple(pt.Utterance(i, t["role"], t["text"]) for i, t in enumerate(turns))
            out.append((s["session_id"], pt.Conversation("chat", utts)))
    return out


def _outcome(session_id: str, r: pt.AuditResult) -> dict[str, Any]:
    """What app.conversations.audit stores for one audit result, as plain JSON."""
    emotions = r.emotions or (None,) * len(r.utterances)
    ce = r.conversation_emotion
    return {
        "session_id": session_id,
        "utterances": [
            {
                "speaker": u.speaker,
                "text": u.text,
                "emotion": e.label if e else None,
                "confidence": round(e.confidence, 4) if e else None,
                "probs": {k: round(v, 4) for k, v in e.probs.items()} if e else None,
            }
            for u, e in zip(r.utterances, emotions, strict=False)
        ],
        "findings": [
            {
                "kind": f.kind,
                "category": f.category,
                "term": f.term,
                "severity": int(f.severity),
                "utterance_index": f.utterance_index,
                "start": f.start,
                "end": f.end,
                "rule": f.rule,
                "detail": f.detail,
            }
            for f in r.findings
        ],
        "keywords": [{"term": k.term, "weight": k.weight, "speaker": k.speaker} for k in r.keywords],
        "score": r.score.total,
        "score_breakdown": {
            "total": r.score.total,
            "fatal": r.score.fatal,
            "items": [
                {
                    "rule": i.rule,
                    "dimension": i.dimension,
                    "points": i.points,
                    "reason": i.reason,
                    "fatal": i.fatal,
                }
                for i in r.score.items
            ],
        },
        "severity": int(r.severity),
        "flagged": r.flagged,
        "metrics": dict(r.metrics),
        "customer_emotion": ce.dominant_negative if ce else None,
        "customer_emotion_peak": ce.peak_label if ce else None,
        "customer_emotion_peak_confidence": ce.peak_confidence if ce else None,
        "emotion_trajectory": ce.trajectory if ce else None,
        "emotion_summary": (
            {
                "dominant_negative": ce.dominant_negative,
                "peak_label": ce.peak_label,
                "peak_confidence": ce.peak_confidence,
                "peak_utterance_index": ce.peak_utterance_index,
                "first_third_negativity": ce.first_third_negativity,
                "last_third_negativity": ce.last_third_negativity,
                "trajectory": ce.trajectory,
                "ends_angry": ce.ends_angry,
            }
            if ce
            else None
        ),
        "lexicon_version": r.lexicon_version,
    }


SOURCES = {"jddc": _jddc, "stc3": _stc3}


def cache_path(source: str) -> Path:
    return CACHE_DIR / f"{source}_audited.json"


def build(source: str, *, emotion: bool = True) -> list[dict[str, Any]]:
    """Audit every dialogue of `source` with the real pipeline and cache the outcomes."""
    from app.runtime import AuditRuntime

    settings = Settings(model_dir=REPO_ROOT / "var" / "models", start_worker=False, emotion_enabled=emotion)
    pipeline = AuditRuntime(settings).pipeline
    sessions = SOURCES[source]()
    path = cache_path(source)
    out: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for start in range(0, len(sessions), _BATCH):
        chunk = sessions[start : start + _BATCH]
        masked = [mask_conversation(pipeline.stages.masker, conv) for _, conv in chunk]
        results = pipeline.run_masked_many(masked)
        out.extend(_outcome(sid, r) for (sid, _), r in zip(chunk, results, strict=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
    print(f"audited {len(out)} sessions in {time.perf_counter() - t0:.0f} s -> {path}")
    return out


def load(source: str) -> list[dict[str, Any]]:
    """The cached outcomes of `source`, built first if missing (one builder at a time; others wait)."""
    path = cache_path(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f"{source}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            return build(source)
    data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=sorted(SOURCES), default="jddc")
    parser.add_argument("--no-emotion", action="store_true", help="leave the emotion model out")
    args = parser.parse_args()
    build(args.source, emotion=not args.no_emotion)


if __name__ == "__main__":
    main()
