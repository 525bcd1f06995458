"""Cost of the sensitive stage (lexicon matcher + abuse model) in the text audit, per conversation.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_abuse.py [--limit 100] [--rounds 3]

On real JDDC sessions, one conversation at a time (the API's single POST), in the same run and interleaved
(A, B, A, B…; medians over rounds, so load from other processes hits both alike):
  baseline  — the served text audit with emotion, abuse head off;
  + abuse   — the same with the abuse head reading the emotion encoder's features;
and, measured on their own, the matcher's time and the abuse head's time (head + n-gram half on cached
features). The sensitive stage's share is (matcher + abuse head) over the audit without them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from app.settings import REPO_ROOT
from models.abuse.loader import base_model_sha256, load_abuse_classifier
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR
from pipelines.audit import AuditPipeline, build_stages
from pipelines.types import Conversation, Utterance

DATA = REPO_ROOT.parent / "shared" / "data" / "dialogues" / "jddc_sample_sessions.jsonl"


def _conversations(limit: int) -> list[Conversation]:
    out = []
    for line in DATA.read_text(encoding="utf-8").splitlines()[:limit]:
        turns = [t for t in json.loads(line)["turns"] if t["text"].strip()]
        utts = tuple(Utterance(i, t["role"], t["text"]) for i, t in enumerate(turns))
        if utts:
            out.append(Conversation("chat", utts))
    return out


def _timed(fn: object, items: list[Conversation]) -> float:
    start = time.perf_counter()
    for conv in items:
        fn(conv)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    """CLI: print per-conversation times and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    convs = _conversations(args.limit)
    n, n_utts = len(convs), sum(len(c.utterances) for c in convs)
    stages = build_stages(REPO_ROOT / "lexicons")
    emotion = load_emotion_classifier(DEFAULT_CACHE_DIR, num_threads=2, verify_checksum=False)
    abuse = load_abuse_classifier(
        emotion_layers=emotion.layers, base_model_sha256=base_model_sha256(DEFAULT_CACHE_DIR)
    )
    base = AuditPipeline(stages, emotion=emotion)
    full = AuditPipeline(stages, emotion=emotion, abuse=abuse)
    masked = [base.run(c).utterances for c in convs]  # warm-up, and the masked text the stages see
    texts = [[u.text for u in utts] for utts in masked]
    features = [emotion.predict_with_features(t)[1] for t in texts]

    times: dict[str, list[float]] = {"baseline": [], "abuse": [], "matcher": [], "head": []}
    for _ in range(args.rounds):
        times["baseline"].append(_timed(base.run, convs))
        times["abuse"].append(_timed(full.run, convs))
        start = time.perf_counter()
        for utts in masked:
            stages.matcher.findings(utts)
        times["matcher"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for t, f in zip(texts, features, strict=True):
            abuse.proba(t, f)
        times["head"].append(time.perf_counter() - start)
    ms = {k: statistics.median(v) / n * 1000 for k, v in times.items()}
    without_sensitive = ms["baseline"] - ms["matcher"]
    print(f"{n} JDDC conversations, {n_utts} utterances, one at a time, {args.rounds} rounds (medians)")
    print(f"  baseline (emotion, no abuse head)   {ms['baseline']:8.2f} ms/conv")
    print(
        f"  + abuse head (shared encoder pass)  {ms['abuse']:8.2f} ms/conv  ×{ms['abuse'] / ms['baseline']:.3f}"
    )
    print(f"  matcher alone                       {ms['matcher']:8.2f} ms/conv")
    print(f"  abuse head alone (head + n-gram)    {ms['head']:8.2f} ms/conv")
    print(
        f"  sensitive stage (matcher + head) adds {(ms['matcher'] + ms['head']) / without_sensitive:.1%} "
        f"to the audit without it ({without_sensitive:.2f} ms/conv); end-to-end with vs without head "
        f"{ms['abuse'] / ms['baseline'] - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
