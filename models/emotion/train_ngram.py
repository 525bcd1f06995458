"""Train the lexical half of the emotion model and choose its weight against the encoder on dev rows.

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.emotion.train_ngram   # after train_head

Fits character 1-3-gram TF-IDF + logistic regression on exactly the head's training rows (head_training_set:
balanced class weights, spoken-style rows x2), then picks the combination weight by the mean macro-F1 over the
dev sets neither half trains on (models.emotion.data.dev_sets: unseen Weibo posts, scmed's and empathetic's dev
parts, the calibration half of the CPED held-out series). Deterministic (lbfgs, no sampling). About 3 minutes on
2 busy cores, most of it the encoder scoring the dev rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import opencc
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from models.emotion.data import LABEL_INDEX, dev_sets, head_training_set
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import load_emotion_classifier
from models.emotion.ngram import NgramConfig, NgramScorer, load_ngram, save_ngram
from models.emotion.setup import DEFAULT_CACHE_DIR
from models.emotion.train import macro_f1
from models.emotion.train_head import sample_weights
from pipelines.types import EMOTION_LABELS

WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
MAX_CHARS = 512


def main() -> None:
    """Fit, select the weight on dev, save next to the encoder artefact."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--artifact-dir", type=Path, default=ARTIFACT_DIR)
    ap.add_argument("--min-df", type=int, default=2)
    ap.add_argument("--c", type=float, default=3.0, help="inverse L2 strength of the logistic regression")
    ap.add_argument("--spoken-weight", type=float, default=2.0, help="weight of CPED, scmed, empathetic rows")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    t2s = opencc.OpenCC("t2s").convert
    train = head_training_set()
    texts = [t2s(e.text)[:MAX_CHARS] for e in train]
    y = np.array([LABEL_INDEX[e.label] for e in train])
    weights = sample_weights(train, args.spoken_weight).numpy()
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

    clf = load_emotion_classifier(DEFAULT_CACHE_DIR, artifact_dir=args.artifact_dir, num_threads=args.threads)
    clf.lexical = None  # the encoder alone, whatever n-gram files the artefact already holds
    grid: dict[float, dict[str, float]] = {w: {} for w in WEIGHT_GRID}
    lexical_alone = {}
    for name, rows in dev_sets(train).items():
        dev_texts = [t2s(e.text) for e in rows]
        enc, _ = clf.component_log_proba(dev_texts)
        lex = scorer.log_proba(dev_texts)
        gold = np.array([LABEL_INDEX[e.label] for e in rows])
        lexical_alone[name] = macro_f1(gold, lex.argmax(-1).numpy())
        for w in WEIGHT_GRID:
            grid[w][name] = macro_f1(gold, ((1 - w) * enc + w * lex).argmax(-1).numpy())
    mean = {w: float(np.mean(list(scores.values()))) for w, scores in grid.items()}
    for w, scores in grid.items():
        print(
            f"weight {w:.1f}: "
            + "  ".join(f"{k} {v:.4f}" for k, v in scores.items())
            + f"  mean {mean[w]:.4f}"
        )
    best = max(WEIGHT_GRID, key=lambda w: (mean[w], -w))  # ties go to the smaller lexical share
    print(
        "n-gram alone on dev: "
        + "  ".join(f"{k} {v:.4f}" for k, v in lexical_alone.items())
        + f"; chosen weight {best}"
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
            "spoken_weight": args.spoken_weight,
            "dev": "models.emotion.data.dev_sets",
            "dev_mean_macro_f1_by_weight": {f"{w:.1f}": round(f1, 4) for w, f1 in mean.items()},
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
