"""Calibration of the served emotion model on spoken-style turns: reliability before and after temperature scaling.

Data the emotion model never trained on, each split in two disjoint halves by a hash of (row number, text):
- CPED held-out series 39 + 45 (TV dialogue, the closest to transcribed speech; models.emotion.data);
- scmed_dialogue (spoken-style dialogue sentences; 平静/疑问 → neutral, 开心 → happy, 生气/厌恶 → angry,
  伤心 → sad, 惊讶 → surprised; 关心 is dropped: it holds worried and caring sentences alike).
The temperature T (served probabilities softmax(log p / T), where log p is the served combined
log-probability) is fitted by minimum negative log-likelihood on the calibration halves of both sets
together; every table is printed on the test halves only. The top label never changes (argmax is
invariant to T), so macro-F1 is unchanged; only what a confidence means does.

    .venv/bin/python -m evaluation.eval_calibration            # caches the model's output under var/
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from models.emotion.data import SHARED_DATA, load_cped
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT
from pipelines.types import EMOTION_LABELS

CACHE_DIR = REPO_ROOT / "var" / "emotion" / "calibration"
SCMED_MAP = {
    "平静": "neutral",
    "疑问": "neutral",
    "开心": "happy",
    "生气": "angry",
    "厌恶": "angry",
    "伤心": "sad",
    "惊讶": "surprised",
}
BINS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def load_scmed() -> list[tuple[str, str]]:
    """(text, product label) of scmed_dialogue, 关心 dropped."""
    with (SHARED_DATA / "emotion" / "scmed_dialogue" / "scmed.csv").open(
        encoding="utf-8-sig", newline=""
    ) as f:
        return [
            (r["text"].strip(), SCMED_MAP[r["label"]])
            for r in csv.DictReader(f)
            if r["label"] in SCMED_MAP and r["text"].strip()
        ]


def sets() -> dict[str, list[tuple[str, str]]]:
    """The spoken sets, (text, label) rows."""
    return {
        "cped_heldout": [(e.text, e.label) for e in load_cped(test=True)],
        "scmed": load_scmed(),
    }


def is_calibration(i: int, text: str) -> bool:
    """Half of the rows (by a hash, stable across runs) fit T; the other half tests it."""
    return int(hashlib.sha256(f"{i}:{text}".encode()).hexdigest()[:8], 16) % 2 == 0


def served_log_proba(name: str, texts: list[str], *, model_dir: Path, threads: int) -> np.ndarray:
    """The served combined log-probabilities (n, 6), cached in var/ per set and model version."""
    from models.emotion.head import ARTIFACT_DIR
    from models.emotion.loader import head_version

    target = CACHE_DIR / f"{name}-{head_version(ARTIFACT_DIR)}.npz"
    if target.exists():
        cached: np.ndarray = np.load(target)["log_p"]
        return cached
    from models.emotion.loader import load_emotion_classifier

    clf = load_emotion_classifier(model_dir, num_threads=threads, verify_checksum=False)
    t0 = time.perf_counter()
    probs = clf.predict_proba(texts).numpy()
    print(f"{name}: {len(texts)} texts encoded in {time.perf_counter() - t0:.0f} s")
    log_p: np.ndarray = np.log(np.clip(probs, 1e-12, 1.0))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, log_p=log_p)
    return log_p


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


def reliability(probs: np.ndarray, gold: np.ndarray) -> tuple[float, list[tuple[str, int, float, float]]]:
    """ECE (10 equal-width bins) and, per confidence bin of BINS, (bin, count, mean confidence, accuracy)."""
    conf, pred = probs.max(axis=1), probs.argmax(axis=1)
    right = (pred == gold).astype(np.float64)
    edges = np.linspace(0, 1, 11)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(conf[m].mean() - right[m].mean())
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
    """'accuracy (n)' of the predictions at or above a confidence level."""
    m = probs.max(axis=1) >= level
    if not m.any():
        return "  —  (0)"
    return f"{(probs[m].argmax(axis=1) == gold[m]).mean():.3f} ({int(m.sum())})"


def main() -> None:
    """CLI: fit T on the calibration halves, print reliability tables on the test halves."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = {}
    for name, rows in sets().items():
        log_p = served_log_proba(name, [t for t, _ in rows], model_dir=args.model_dir, threads=args.threads)
        gold = np.array([EMOTION_LABELS.index(label) for _, label in rows])
        cal = np.array([is_calibration(i, t) for i, (t, _) in enumerate(rows)])
        data[name] = (log_p, gold, cal)
    t = fit_temperature(
        np.concatenate([lp[c] for lp, _, c in data.values()]),
        np.concatenate([g[c] for _, g, c in data.values()]),
    )
    print(f"temperature fitted on the calibration halves: T = {t:.3f}")
    # What each set alone would want: one T cannot serve both when they disagree (printed, not applied).
    for name, (log_p, gold, cal) in data.items():
        own = fit_temperature(log_p[cal], gold[cal])
        probs = softmax_t(log_p[~cal], own)
        print(
            f"  {name} alone: T = {own:.3f}; its test half at T: ECE {reliability(probs, gold[~cal])[0]:.3f},"
            f" accuracy at confidence >= 0.8: {at_least(probs, gold[~cal], 0.8)}"
        )
    for name, (log_p, gold, cal) in data.items():
        test = ~cal
        print(f"\n{name}: test half {int(test.sum())} rows (calibration half {int(cal.sum())})")
        for label, temp in (("before", 1.0), (f"after T={t:.2f}", t)):
            probs = softmax_t(log_p[test], temp)
            ece, table = reliability(probs, gold[test])
            print(
                f"  {label}: ECE {ece:.3f}; accuracy at confidence >= 0.8: {at_least(probs, gold[test], 0.8)},"
                f" >= 0.6: {at_least(probs, gold[test], 0.6)}, >= 0.7: {at_least(probs, gold[test], 0.7)}"
            )
            print(f"    {'bin':>8} {'n':>5} {'conf':>6} {'acc':>6}")
            for b, n, c, a in table:
                print(f"    {b:>8} {n:>5} {c:6.3f} {a:6.3f}")


if __name__ == "__main__":
    main()
