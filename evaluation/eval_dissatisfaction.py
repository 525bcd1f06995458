"""Conversation dissatisfaction on the STC-3 held-out 20 %: the model next to today's signal, and JDDC flags.

Prints ROC AUC and precision at 50 % recall of
- today's signal: the highest negative-emotion probability over the customer's utterances
  (max over customer utterances of P(angry) + P(sad) + P(anxious), the served emotion model);
- the dissatisfaction model (models/dissatisfaction/artifact),
on the held-out dialogues (never trained or tuned on), and, at the flag threshold of lexicons/rules.yaml
(`flag.dissatisfaction_min`), precision / recall there and the share of the 994 JDDC sessions flagged.

Reads the emotion model's output cached by models.dissatisfaction.train_features (the served model, run once):

    .venv/bin/python -m models.dissatisfaction.train_features stc3 jddc
    .venv/bin/python -m evaluation.eval_dissatisfaction
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.dissatisfaction.data import is_heldout, load_jddc, load_stc3
from models.dissatisfaction.loader import ARTIFACT_DIR, load_dissatisfaction_model
from models.dissatisfaction.train import load_cached
from models.dissatisfaction.train_features import FEATURE_DIR, variant_dir
from models.emotion.head import ARTIFACT_DIR as EMOTION_ARTIFACT_DIR
from models.emotion.loader import head_version
from models.emotion.setup import REPO_ROOT
from pipelines.ruleset import load_rules
from pipelines.types import EMOTION_LABELS

NEGATIVE_COLUMNS = [EMOTION_LABELS.index(label) for label in ("angry", "sad", "anxious")]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn's, ties averaged)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float = 0.5) -> float:
    """Precision of the top-scored conversations just large enough to hold `recall` of the positives."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(labels[order])
    k = int(np.searchsorted(hits, recall * labels.sum())) + 1
    return float(hits[k - 1] / k)


def baseline(speakers: list[str], probs: np.ndarray) -> float:
    """Today's signal: max over customer utterances of P(angry) + P(sad) + P(anxious)."""
    rows = [i for i, s in enumerate(speakers) if s == "customer"]
    return float(probs[rows][:, NEGATIVE_COLUMNS].sum(axis=1).max()) if rows else 0.0


def main() -> None:
    """CLI: print the comparison table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--artifact", type=Path, default=ARTIFACT_DIR)
    ap.add_argument("--rules", type=Path, default=REPO_ROOT / "lexicons" / "rules.yaml")
    ap.add_argument(
        "--int8", action="store_true", help="read the int8 encoder's cache (train_features --int8)"
    )
    ap.add_argument(
        "--distilled",
        action="store_true",
        help="read the 4-layer student's cache (train_features --distilled [--int8])",
    )
    args = ap.parse_args()
    model = load_dissatisfaction_model(args.artifact)
    threshold = load_rules(args.rules).flag_dissatisfaction_min
    feature_dir = FEATURE_DIR / variant_dir(int8=args.int8, distilled=args.distilled)
    z = np.load(feature_dir / "stc3.npz")
    # The int8 graph's and the student's versions are the model's with a suffix (-ort-int8, -student4-…).
    if not str(z["version"]).startswith(head_version(EMOTION_ARTIFACT_DIR)):
        print(
            f"WARNING: cached emotion output is from {z['version']}, the served model is "
            f"{head_version(EMOTION_ARTIFACT_DIR)}: re-run train_features --force"
        )

    dialogues = load_stc3()
    cached = load_cached("stc3", dialogues, feature_dir)
    held = [i for i, d in enumerate(dialogues) if is_heldout(d.id)]
    y = np.array([dialogues[i].label for i in held])
    speakers = [[s for s, _ in dialogues[i].utterances] for i in held]
    texts = [[t for _, t in dialogues[i].utterances] for i in held]
    base = np.array([baseline(s, cached[i][0]) for s, i in zip(speakers, held, strict=True)])
    new = model.probability_many(
        speakers, texts, [cached[i][0] for i in held], [cached[i][1].astype(np.float32) for i in held]
    )
    print(
        f"STC-3 held-out: {len(held)} dialogues, {int(y.sum())} dissatisfied ({y.mean():.1%}); model {model.version}"
    )
    print(f"{'signal':<48} {'ROC AUC':>8} {'P@50%R':>8}")
    print(
        f"{'today: max customer P(angry+sad+anxious)':<48} {roc_auc(base, y):>8.3f} {precision_at_recall(base, y):>8.3f}"
    )
    print(f"{'dissatisfaction model':<48} {roc_auc(new, y):>8.3f} {precision_at_recall(new, y):>8.3f}")

    if threshold is None:
        print("lexicons/rules.yaml sets no flag.dissatisfaction_min: no flag threshold to check")
        return
    flagged = new >= threshold
    tp = int((flagged & (y == 1)).sum())
    print(
        f"flag threshold {threshold:g}: precision {tp / max(1, flagged.sum()):.3f}, recall {tp / y.sum():.3f}, "
        f"{flagged.mean():.1%} of held-out dialogues flagged"
    )
    jddc = load_jddc()
    jcached = load_cached("jddc", jddc, feature_dir)
    p = model.probability_many(
        [[s for s, _ in d.utterances] for d in jddc],
        [[t for _, t in d.utterances] for d in jddc],
        [c[0] for c in jcached],
        [c[1].astype(np.float32) for c in jcached],
    )
    jb = np.array([baseline([s for s, _ in d.utterances], c[0]) for d, c in zip(jddc, jcached, strict=True)])
    print(
        f"JDDC: {int((p >= threshold).sum())} of {len(jddc)} sessions ({(p >= threshold).mean():.1%}) at or above "
        f"{threshold:g} (target < 5 %); median {np.median(p):.3f}; today's signal >= 0.5 on {(jb >= 0.5).mean():.1%}"
    )


if __name__ == "__main__":
    main()
