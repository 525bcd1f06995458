"""How far dialogue context could carry the served emotion model on CPED, and how much of CPED is in the text.

    PYTHONPATH=. .venv/bin/python -m evaluation.eval_emotion_context      # ~1 min on 2 cores

The served model labels one utterance at a time (macro-F1 0.28 on the held-out series 39+45, target 0.35). CPED
was annotated with video, audio and the whole dialogue, and a speaker's emotion persists across their turns. This
prints, on the held-out series, measured in one run:

1. the served model per utterance (what `eval_emotion` reports);
2. a persistence ceiling: the *gold* label of the same speaker's previous turn used as the prediction — how much
   a perfect memory of the dialogue would give;
3. the served model's log-probabilities mixed with the mean of the same speaker's other turns within a window,
   over a small grid (chosen on the test series, so an upper bound for this kind of smoothing, not a result);
4. a logistic regression over the utterance's log-probabilities plus context summaries (same speaker's other
   turns, the other speakers' turns, previous and next same-speaker turn), fitted on the CPED training series
   32/40/44. The base model trained on those rows, so its training-series probabilities are over-confident and
   this under-states what out-of-fold stacking could give.

None of this is served: the best context variant stays far below 0.35 (see the model card).
"""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
from sklearn.linear_model import LogisticRegression

from models.emotion.data import CPED_MAP, CPED_TEST_SERIES, SHARED_DATA
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR
from models.emotion.train import macro_f1
from pipelines.types import EMOTION_LABELS

LABEL = {label: i for i, label in enumerate(EMOTION_LABELS)}


def load_rows() -> list[dict[str, str]]:
    """Every CPED validation-split row, in dialogue order (other-labels kept: they are context too)."""
    path = SHARED_DATA / "emotion" / "cped_valid" / "valid_split.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def served_log_proba(texts: list[str]) -> np.ndarray:
    """The served combination, softmax((1-w) log p_encoder + w log p_ngram), as log-probabilities."""
    clf = load_emotion_classifier(DEFAULT_CACHE_DIR, num_threads=2)
    return np.log(clf.predict_proba(texts).numpy().clip(1e-9))


def context_features(rows: list[dict[str, str]], logp: np.ndarray, window: int) -> np.ndarray:
    """Per row: own log-probs, mean log-probs of the same speaker's and of the others' turns within `window`
    turns (0 = whole dialogue), previous and next same-speaker turn, and presence flags."""
    dialogues: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        dialogues[r["Dialogue_ID"]].append(i)
    k = logp.shape[1]
    feats = np.zeros((len(rows), 5 * k + 4))
    for members in dialogues.values():
        for a, i in enumerate(members):
            same = [j for b, j in enumerate(members) if j != i and (not window or abs(a - b) <= window)
                    and rows[j]["Speaker"] == rows[i]["Speaker"]]  # fmt: skip
            other = [j for b, j in enumerate(members) if (not window or abs(a - b) <= window)
                     and rows[j]["Speaker"] != rows[i]["Speaker"]]  # fmt: skip
            before = [j for j in members[:a] if rows[j]["Speaker"] == rows[i]["Speaker"]]
            after = [j for j in members[a + 1 :] if rows[j]["Speaker"] == rows[i]["Speaker"]]
            row = feats[i]
            row[:k] = logp[i]
            for slot, group in enumerate((same, other, before[-1:], after[:1]), start=1):
                if group:
                    row[slot * k : (slot + 1) * k] = logp[group].mean(axis=0)
                    row[5 * k + slot - 1] = 1.0
    return feats


def line(name: str, f1: float, extra: str = "") -> None:
    print(f"{name:56s} macro-F1 {f1:.3f}{extra}")


def main() -> None:
    """Print the table."""
    rows = load_rows()
    gold = np.array([LABEL.get(CPED_MAP.get(r["Emotion"], ""), -1) for r in rows])
    series = np.array([r["TV_ID"] for r in rows])
    test = np.isin(series, sorted(CPED_TEST_SERIES)) & (gold >= 0)
    train = ~np.isin(series, sorted(CPED_TEST_SERIES)) & (gold >= 0)
    logp = served_log_proba([r["Utterance"].strip() or "。" for r in rows])
    print(f"CPED held-out series {'+'.join(sorted(CPED_TEST_SERIES))}: {int(test.sum())} labelled utterances")
    line("1. served model, one utterance at a time", macro_f1(gold[test], logp[test].argmax(1)))

    previous_gold = np.full(len(rows), -1)
    last: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rows):
        key = (r["Dialogue_ID"], r["Speaker"])
        if key in last:
            previous_gold[i] = gold[last[key]]
        if gold[i] >= 0:
            last[key] = i
    has = test & (previous_gold >= 0)
    line(
        "2. gold label of the speaker's previous turn (ceiling)",
        macro_f1(gold[has], previous_gold[has]),
        f"  (on the {has.sum() / test.sum():.0%} of turns that have one; served model there "
        f"{macro_f1(gold[has], logp[has].argmax(1)):.3f})",
    )

    k = len(EMOTION_LABELS)
    best = (0.0, 0, 0.0)
    for window in (3, 6, 0):
        feats = context_features(rows, logp, window)
        for beta in (0.5, 1.0, 2.0):
            mixed = feats[:, :k] + beta * feats[:, k : 2 * k]
            best = max(best, (macro_f1(gold[test], mixed[test].argmax(1)), window, beta))
    line(
        "3. + same speaker's turns, best of 9 on the test series",
        best[0],
        f"  (window {best[1] or 'whole dialogue'}, beta {best[2]})",
    )

    for window in (4, 0):
        feats = context_features(rows, logp, window)
        model = LogisticRegression(C=0.1, max_iter=2000, class_weight="balanced")
        model.fit(feats[train], gold[train])
        line(
            f"4. context LR fitted on series 32/40/44, window {window or 'all'}",
            macro_f1(gold[test], model.predict(feats[test])),
        )


if __name__ == "__main__":
    main()
