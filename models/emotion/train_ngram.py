"""Train the lexical half of the emotion model and choose its weight against the encoder on unseen Weibo rows.

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.emotion.train_ngram   # after train_lora

Fits character 1-3-gram TF-IDF + logistic regression on exactly the encoder's training rows (same balanced
class weights, CPED x2), then picks the combination weight on a dev set neither half has seen: the
epidemic-period Weibo rows that `training_set` leaves out (about 8,000). Deterministic (lbfgs, no sampling).
About 3 minutes on 2 busy cores, most of it the encoder scoring the dev rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import opencc
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from models.emotion.data import LABEL_INDEX, SMP_TRAIN_FILES, Example, load_smp, training_set
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import load_emotion_classifier
from models.emotion.ngram import NgramConfig, NgramScorer, load_ngram, save_ngram
from models.emotion.setup import DEFAULT_CACHE_DIR
from models.emotion.train import macro_f1, sample_weights
from pipelines.types import EMOTION_LABELS

WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
MAX_CHARS = 512


def unseen_weibo(train: list[Example]) -> list[Example]:
    """Epidemic-period Weibo rows that training_set() did not sample: the weight-selection dev set."""
    seen = {e.text for e in train}
    rows = [e for name in SMP_TRAIN_FILES if name.startswith("virus") for e in load_smp(name)]
    return [e for e in rows if e.text not in seen]


def main() -> None:
    """Fit, select the weight on dev, save next to the encoder artefact."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--artifact-dir", type=Path, default=ARTIFACT_DIR)
    ap.add_argument("--min-df", type=int, default=2)
    ap.add_argument("--c", type=float, default=3.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--cped-weight", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    t2s = opencc.OpenCC("t2s").convert
    train = training_set()
    texts = [t2s(e.text)[:MAX_CHARS] for e in train]
    y = np.array([LABEL_INDEX[e.label] for e in train])
    weights = sample_weights(y, np.array([e.source for e in train]), args.cped_weight).numpy()
    start = time.perf_counter()
    vectorizer = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), min_df=args.min_df, sublinear_tf=True, dtype=np.float32
    )
    features = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=args.c, max_iter=3000).fit(features, y, sample_weight=weights)
    vocabulary = vectorizer.get_feature_names_out().tolist()
    print(f"{len(train)} rows, {len(vocabulary)} n-grams, fitted in {time.perf_counter() - start:.0f} s")

    config = NgramConfig(ngram_range=(1, 3), weight=0.0, max_chars=MAX_CHARS, labels=EMOTION_LABELS)
    scorer = NgramScorer(vocabulary, vectorizer.idf_, model.coef_, model.intercept_, config)

    dev = unseen_weibo(train)
    clf = load_emotion_classifier(DEFAULT_CACHE_DIR, artifact_dir=args.artifact_dir, num_threads=args.threads)
    clf.lexical = None  # the encoder alone, whatever n-gram files the artefact already holds
    dev_texts = [t2s(e.text) for e in dev]
    enc, _ = clf.component_log_proba(dev_texts)
    lex = scorer.log_proba(dev_texts)
    gold = np.array([LABEL_INDEX[e.label] for e in dev])
    grid = {w: macro_f1(gold, ((1 - w) * enc + w * lex).argmax(-1).numpy()) for w in WEIGHT_GRID}
    for w, f1 in grid.items():
        print(f"dev (unseen Weibo, n={len(dev)}) weight {w:.1f}: macro-F1 {f1:.4f}")
    best = max(WEIGHT_GRID, key=lambda w: (grid[w], -w))  # ties go to the smaller lexical share
    print(
        f"lexical n-gram F1 alone on dev: {macro_f1(gold, lex.argmax(-1).numpy()):.4f}; chosen weight {best}"
    )

    save_ngram(
        args.artifact_dir,
        vocabulary=vocabulary,
        idf=vectorizer.idf_,
        coef=model.coef_,
        intercept=model.intercept_,
        config=NgramConfig(ngram_range=(1, 3), weight=best, max_chars=MAX_CHARS, labels=EMOTION_LABELS),
        extra={
            "train_rows": len(train),
            "min_df": args.min_df,
            "C": args.c,
            "cped_weight": args.cped_weight,
            "dev_rows": len(dev),
            "dev_macro_f1_by_weight": {f"{w:.1f}": round(f1, 4) for w, f1 in grid.items()},
        },
    )
    # What is on disk must score like the fitted model (fp16 coefficients, rebuilt vectorizer).
    restored = load_ngram(args.artifact_dir)
    assert restored is not None
    reference = np.exp(model.predict_log_proba(features[:1000]))
    drift = float(np.abs(reference - np.exp(restored.log_proba(texts[:1000]).numpy())).max())
    if drift > 1e-3:
        raise SystemExit(f"stored n-gram model drifts from the fitted one by {drift:.2e} in probability")
    print(f"saved to {args.artifact_dir} (max probability drift after reload {drift:.1e})")


if __name__ == "__main__":
    main()
