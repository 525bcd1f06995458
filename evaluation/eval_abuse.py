"""Abuse detection quality: COLD dev (offensive P/R/F1) for the lexicon, the model and both, and false abuse
findings on the 6,107 JDDC customer turns, every hit printed to be read.

The model runs as served: the emotion classifier's encoder pass, the abuse head on its features, the lexicon's
辱骂 hit suppressing the model finding in the same utterance. COLD dev is the test set: nothing was tuned on it.

Run: PYTHONPATH=. .venv/bin/python -m evaluation.eval_abuse [--data ../shared/data] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from models.abuse.data import SHARED_DATA, jddc_bucket, load_cold, load_cs_examples, load_jddc_turns
from models.abuse.loader import base_model_sha256, load_abuse_classifier
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR
from pipelines.abuse import AbuseClassifier, abuse_findings
from pipelines.emotion import TransformerEmotionClassifier
from pipelines.sensitive import SensitiveWordMatcher, load_sensitive_lexicon
from pipelines.types import Speaker, Utterance

REPO = Path(__file__).resolve().parents[1]
ABUSE = "辱骂"


def model_proba(
    emotion: TransformerEmotionClassifier, abuse: AbuseClassifier, texts: Sequence[str]
) -> list[float | None]:
    """P(abuse) as served: one encoder pass shared with emotion, the abuse head on its features."""
    _, features = emotion.predict_with_features(texts)
    return abuse.proba(texts, features)


def lexicon_categories(
    matcher: SensitiveWordMatcher, texts: Sequence[str], speaker: Speaker
) -> list[set[str]]:
    """Categories the sensitive-word matcher finds in each text."""
    return [{hit.category for hit in matcher.find(t, speaker=speaker)} for t in texts]


def prf(pred: Sequence[bool], gold: Sequence[int]) -> tuple[float, float, float]:
    """Precision, recall and F1 of the positive class."""
    tp = sum(1 for p, g in zip(pred, gold, strict=True) if p and g)
    npred, ngold = sum(pred), sum(gold)
    p = tp / npred if npred else 0.0
    r = tp / ngold if ngold else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def served_hits(
    texts: Sequence[str],
    probs: Sequence[float | None],
    cats: Sequence[set[str]],
    threshold: float,
    speaker: Speaker,
) -> list[bool]:
    """Whether the served pipeline records a model `abuse` finding (not suppressed by a lexicon 辱骂 hit)."""
    from pipelines.types import Finding, Severity

    out = []
    for i, (text, p, c) in enumerate(zip(texts, probs, cats, strict=True)):
        utt = Utterance(i, speaker, text)
        lex = (
            [Finding("sensitive_word", ABUSE, Severity.IMPORTANT, "lexicon", utterance_index=i)]
            if ABUSE in c
            else []
        )
        out.append(bool(abuse_findings([utt], [p], threshold=threshold, lexicon_findings=lex)))
    return out


def main() -> None:
    """CLI: print the COLD dev table, the JDDC false-abuse rate and every JDDC hit."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--lexicons", type=Path, default=REPO / "lexicons")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--int8", action="store_true", help="the encoder's int8 graph (AUDIT_EMOTION_INT8)")
    ap.add_argument(
        "--distilled", action="store_true", help="the 4-layer student (AUDIT_EMOTION_ENCODER=distilled)"
    )
    args = ap.parse_args()

    emotion = load_emotion_classifier(
        DEFAULT_CACHE_DIR,
        num_threads=args.threads,
        verify_checksum=False,
        quantize=args.int8,
        distilled=args.distilled,
    )
    abuse = load_abuse_classifier(
        emotion_layers=emotion.layers, base_model_sha256=base_model_sha256(DEFAULT_CACHE_DIR)
    )
    matcher = SensitiveWordMatcher(load_sensitive_lexicon(args.lexicons))
    t = abuse.threshold
    print(
        f"model {abuse.version}, threshold {t:.2f}, n-gram weight {abuse.lexical_weight:.2f}; lexicon {matcher.version}"
    )

    cold = load_cold("dev", args.data)
    texts, gold = [e.text for e in cold], [e.label for e in cold]
    start = time.perf_counter()
    probs = model_proba(emotion, abuse, texts)
    print(
        f"COLD dev: {len(texts)} comments ({sum(gold)} offensive), model in {time.perf_counter() - start:.0f} s"
    )
    # COLD comments have no speaker; read as a customer's (agent-only 服务禁语 entries do not apply).
    cats = lexicon_categories(matcher, texts, "customer")
    model = [p is not None and p >= t for p in probs]
    lex_abuse = [ABUSE in c for c in cats]
    lex_any = [bool(c) for c in cats]
    rows = {
        "lexicon 辱骂 alone": lex_abuse,
        "lexicon, any category": lex_any,
        "model alone": model,
        "both (lexicon 辱骂 or model) — served": [a or b for a, b in zip(lex_abuse, model, strict=True)],
        "lexicon any category or model": [a or b for a, b in zip(lex_any, model, strict=True)],
    }
    print(f"{'system':40s} {'flagged':>8s} {'P':>6s} {'R':>6s} {'F1':>6s}")
    for name, pred in rows.items():
        p, r, f = prf(pred, gold)
        print(f"{name:40s} {sum(pred):8d} {p:6.3f} {r:6.3f} {f:6.3f}")
    offensive = [i for i, g in enumerate(gold) if g]
    by_lex = sum(1 for i in offensive if lex_abuse[i])
    by_model = sum(1 for i in offensive if model[i])
    by_both = sum(1 for i in offensive if lex_abuse[i] and model[i])
    n = len(offensive)
    print(
        f"share of offensive caught: lexicon 辱骂 {by_lex / n:.1%}, model {by_model / n:.1%}, "
        f"both {by_both / n:.1%}, either {(by_lex + by_model - by_both) / n:.1%}"
    )

    cs = load_cs_examples(heldout=True)
    cs_probs = model_proba(emotion, abuse, [e.text for e in cs])
    p, r, f = prf([q is not None and q >= t for q in cs_probs], [e.label for e in cs])
    print(
        f"\nour held-out CS examples ({len(cs)}, {sum(e.label for e in cs)} abuse): P {p:.3f} R {r:.3f} F1 {f:.3f}"
    )
    for e, q in zip(cs, cs_probs, strict=True):
        if (q is not None and q >= t) != bool(e.label):
            print(f"  miss: {e.text} (gold {e.label}, p={q:.2f})")

    jddc = load_jddc_turns(data_dir=args.data)
    jtexts = [text for _, text in jddc]
    jprobs = model_proba(emotion, abuse, jtexts)
    jcats = lexicon_categories(matcher, jtexts, "customer")
    hits = served_hits(jtexts, jprobs, jcats, t, "customer")
    heldout = [jddc_bucket(sid) < 2 for sid, _ in jddc]
    n_hits, n_held = sum(hits), sum(heldout)
    held_hits = sum(1 for h, k in zip(hits, heldout, strict=True) if h and k)
    print(
        f"\nJDDC customer turns: model abuse findings {n_hits} / {len(jtexts)} = {n_hits / len(jtexts):.3%} "
        f"(held-out sessions never trained on: {held_hits} / {n_held} = {held_hits / max(1, n_held):.3%}); "
        f"lexicon 辱骂 {sum(ABUSE in c for c in jcats)}"
    )
    for text, p, h, k in zip(jtexts, jprobs, hits, heldout, strict=True):
        if h:
            print(f"  p={p:.2f}{' (held-out)' if k else ''}: {text}")
    agent = [text for _, text in load_jddc_turns(speaker="agent", data_dir=args.data)]
    aprobs = model_proba(emotion, abuse, agent)
    ahits = served_hits(agent, aprobs, lexicon_categories(matcher, agent, "agent"), t, "agent")
    print(
        f"JDDC agent turns (an agent finding is 重大 and flags): {sum(ahits)} / {len(agent)} = {sum(ahits) / len(agent):.3%}"
    )
    for text, p, h in zip(agent, aprobs, ahits, strict=True):
        if h:
            print(f"  p={p:.2f}: {text}")
    near = sorted(
        ((p, text) for text, p in zip(jtexts, jprobs, strict=True) if p is not None and t - 0.15 <= p < t),
        reverse=True,
    )
    print(f"  just under the threshold ({len(near)} turns within 0.15), top 10:")
    for p, text in near[:10]:
        print(f"    p={p:.2f}: {text}")


if __name__ == "__main__":
    main()
