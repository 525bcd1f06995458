"""Calibration of the served emotion model: reliability before and after the served calibration.

The served calibration (pipelines/emotion_calibration.py, artefact models/emotion/artifact/calibration.json) is a
temperature that falls with the turn's length, fitted by models/emotion/train_calibration.py on the calibration
halves of two spoken-style sets the model never trained on (models.emotion.data.spoken_calibration_half):
- CPED held-out series 39 + 45 (TV dialogue, the closest to transcribed speech): half fits, half measures;
- scmed_dialogue (spoken-style dialogue sentences, 关心 dropped): its dev part fits, its test part measures
  (its train part is in the head's training rows).
Every table is printed on the other halves, plus SMP2020 usual_test (Weibo posts, never fitted) to show written
text is not made worse. One global temperature fitted on the same halves is printed as the reference. The top
label never changes, so macro-F1 is the model's; only what a confidence means does.

    .venv/bin/python -m evaluation.eval_calibration            # caches the model's output under var/
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from models.emotion.data import load_smp
from models.emotion.head import ARTIFACT_DIR
from models.emotion.setup import DEFAULT_CACHE_DIR
from models.emotion.train_calibration import CALIBRATION_FILE, calibration_parts, scaled, served_log_proba
from pipelines.emotion_calibration import load_calibration
from pipelines.types import EMOTION_LABELS

BINS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def softmax_t(log_p: np.ndarray, t: float) -> np.ndarray:
    """softmax(log_p / t), row-wise."""
    z = log_p / t
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def fit_temperature(log_p: np.ndarray, gold: np.ndarray) -> float:
    """T minimising the negative log-likelihood of the gold labels (bounded scalar search over log T)."""
    from scipy.optimize import minimize_scalar  # type: ignore[import-untyped]

    def nll(log_t: float) -> float:
        p = softmax_t(log_p, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(gold)), gold], 1e-12, 1.0)).mean())

    res = minimize_scalar(nll, bounds=(np.log(0.2), np.log(10.0)), method="bounded")
    return float(np.exp(res.x))


def expected_calibration_error(conf: np.ndarray, right: np.ndarray) -> float:
    """ECE over 10 equal-width confidence bins: the mean |confidence - accuracy|, weighted by bin size."""
    edges = np.linspace(0, 1, 11)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += float(m.mean() * abs(conf[m].mean() - right[m].mean()))
    return ece


def reliability(probs: np.ndarray, gold: np.ndarray) -> tuple[float, list[tuple[str, int, float, float]]]:
    """ECE (10 equal-width bins) and, per confidence bin of BINS, (bin, count, mean confidence, accuracy)."""
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    right = (pred == gold).astype(np.float64)
    ece = expected_calibration_error(conf, right)
    rows = []
    for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
        m = (conf >= lo) & (conf < hi)
        rows.append(
            (
                f"{lo:.1f}-{min(hi, 1.0):.1f}",
                int(m.sum()),
                float(conf[m].mean()) if m.any() else 0.0,
                float(right[m].mean()) if m.any() else float("nan"),
            )
        )
    return float(ece), rows


def at_least(probs: np.ndarray, gold: np.ndarray, level: float) -> str:
    """'accuracy (n) [Wilson 95 % interval]' of the predictions at or above a confidence level."""
    m = probs.max(axis=1) >= level
    if not m.any():
        return "  —  (0)"
    n, acc = int(m.sum()), float((probs[m].argmax(axis=1) == gold[m]).mean())
    # A top bin of a few dozen turns is noisy: the interval says how far its accuracy can be trusted.
    z = 1.96
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{acc:.3f} ({n}) [{centre - half:.2f}-{centre + half:.2f}]"


def _table(label: str, probs: np.ndarray, gold: np.ndarray) -> None:
    ece, table = reliability(probs, gold)
    print(
        f"  {label}: ECE {ece:.3f}; accuracy at confidence >= 0.8: {at_least(probs, gold, 0.8)},"
        f" >= 0.7: {at_least(probs, gold, 0.7)}, >= 0.6: {at_least(probs, gold, 0.6)}"
    )
    print(f"    {'bin':>8} {'n':>5} {'conf':>6} {'acc':>6}")
    for b, n, c, a in table:
        print(f"    {b:>8} {n:>5} {c:6.3f} {a:6.3f}")


def main() -> None:
    """CLI: print reliability tables before and after the served calibration on data it was not fitted on."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--distilled",
        action="store_true",
        help="the 4-layer student encoder (AUDIT_EMOTION_ENCODER=distilled)",
    )
    args = ap.parse_args()
    cal = load_calibration(ARTIFACT_DIR / CALIBRATION_FILE)
    fit_parts = calibration_parts(
        model_dir=args.model_dir, threads=args.threads, half=True, distilled=args.distilled
    )
    t = fit_temperature(
        np.concatenate([lp for lp, _, _ in fit_parts.values()]),
        np.concatenate([g for _, g, _ in fit_parts.values()]),
    )
    print(
        f"served calibration {cal.version}: a={cal.a}, b={cal.b} (T {cal.temperature('xx'):.2f} at 2 chars,"
        f" {cal.temperature('x' * 10):.2f} at 10, {cal.temperature('x' * 64):.2f} at 64+);"
        f" reference: one global T = {t:.3f} fitted on the same halves"
    )
    tests = calibration_parts(
        model_dir=args.model_dir, threads=args.threads, half=False, distilled=args.distilled
    )
    usual = load_smp("usual_test_labeled")
    usual_lp = served_log_proba(
        "usual_test",
        [e.text for e in usual],
        model_dir=args.model_dir,
        threads=args.threads,
        distilled=args.distilled,
    )
    tests["usual_test (Weibo, whole)"] = (
        usual_lp,
        np.array([EMOTION_LABELS.index(e.label) for e in usual]),
        np.array([len(e.text.strip()) for e in usual], dtype=np.float64),
    )
    pooled: list[tuple[np.ndarray, np.ndarray]] = []
    for name, (log_p, gold, lengths) in tests.items():
        print(f"\n{name}: {len(gold)} rows never fitted on")
        _table("before", np.exp(log_p), gold)
        _table(f"one global T={t:.2f}", softmax_t(log_p, t), gold)
        served = scaled(log_p, lengths, cal)
        _table("served calibration", served, gold)
        if not name.startswith("usual"):
            pooled.append((served, gold))
    probs, gold = np.concatenate([p for p, _ in pooled]), np.concatenate([g for _, g in pooled])
    print(
        f"\nspoken test halves pooled, served calibration: accuracy at >= 0.8: {at_least(probs, gold, 0.8)}"
    )


if __name__ == "__main__":
    main()
