"""Emotion stage speed: utterances/s at batch 1 and 32 on short real utterances, fp32 12-layer baseline vs each
optimisation (int8 dynamic quantisation, fewer layers, shorter max_length) and the served encoder with and
without its n-gram half, with the macro-F1 each one keeps.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_emotion [--threads 2] [--eval-rows 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from evaluation.eval_emotion import f1_table
from models.emotion.data import load_cped, load_jddc_customer, load_smp
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT
from pipelines.emotion import TransformerEmotionClassifier

HEADS_DIR = REPO_ROOT / "var" / "emotion" / "heads"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One configuration to time; `twin` names the fp32 variant whose predictions it should reproduce."""

    name: str
    artifact_dir: Path
    quantize: bool
    max_tokens: int | None = None
    twin: str | None = None
    lexical: bool = True  # False: the encoder + head alone, without the artefact's n-gram half
    # Run this many encoder layers although the head reads fewer (the cost baseline).
    run_layers: int | None = None


def throughput(clf: TransformerEmotionClassifier, texts: list[str], batch_size: int, repeats: int) -> float:
    """Texts per second over `repeats` passes (after one warm-up batch)."""
    clf.batch_size = batch_size
    clf.predict(texts[:batch_size])
    start = time.perf_counter()
    for _ in range(repeats):
        clf.predict(texts)
    return repeats * len(texts) / (time.perf_counter() - start)


def variants(heads_dir: Path) -> list[Variant]:
    """fp32 12-layer baseline first, then each optimisation; per-depth heads come from models.emotion.train."""
    out: list[Variant] = []
    d12 = heads_dir / "depth12"
    if (d12 / "head.json").is_file():
        out += [Variant("fp32 12L", d12, False), Variant("int8 12L", d12, True, twin="fp32 12L")]
    d6 = heads_dir / "depth6"
    if (d6 / "head.json").is_file():
        out += [Variant("fp32 6L", d6, False), Variant("int8 6L", d6, True, twin="fp32 6L")]
    out += [
        # The served weights in an unpruned 12-layer encoder: same labels, the cost of not cutting layers.
        Variant("fp32 12L run, served", ARTIFACT_DIR, False, lexical=False, run_layers=12),
        Variant("fp32 encoder only", ARTIFACT_DIR, False, lexical=False, twin="fp32 12L run, served"),
        Variant("fp32 served (+n-gram)", ARTIFACT_DIR, False),
        Variant("int8 served", ARTIFACT_DIR, True, twin="fp32 served (+n-gram)"),
        Variant("int8 served, len 32", ARTIFACT_DIR, True, 32, twin="fp32 served (+n-gram)"),
    ]
    return out


def main() -> None:
    """Print the benchmark table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--utterances", type=int, default=256)
    ap.add_argument("--eval-rows", type=int, default=1000, help="rows of each test set for macro-F1")
    ap.add_argument(
        "--heads-dir", type=Path, default=HEADS_DIR, help="per-depth heads written by models.emotion.train"
    )
    args = ap.parse_args()
    torch.manual_seed(0)

    # Short real customer utterances (JDDC held-out sessions): the served workload.
    utts = [t for t in load_jddc_customer(heldout=True) if len(t) >= 2][: args.utterances]
    mean_chars = sum(map(len, utts)) / len(utts)
    evalsets = {
        "usual": load_smp("usual_test_labeled")[: args.eval_rows],
        "cped": load_cped(test=True)[: args.eval_rows],
    }
    print(
        f"{len(utts)} JDDC customer utterances, mean {mean_chars:.1f} chars; torch threads {args.threads}; "
        f"macro-F1 on the first {args.eval_rows} rows of usual_test and of CPED held-out"
    )
    print(
        f"{'variant':22s} {'layers':>6s} {'b1 utt/s':>9s} {'b32 utt/s':>10s} {'x base':>7s} {'F1 usual':>9s} "
        f"{'F1 cped':>8s} {'dF1 twin':>9s} {'agree':>6s}"
    )
    base_speed: float | None = None
    labels: dict[str, list[str]] = {}
    f1_mean: dict[str, float] = {}
    for v in variants(args.heads_dir):
        clf = load_emotion_classifier(
            DEFAULT_CACHE_DIR,
            artifact_dir=v.artifact_dir,
            num_threads=args.threads,
            quantize=v.quantize,
            verify_checksum=False,
            run_layers=v.run_layers,
        )
        if v.max_tokens:
            clf.max_tokens = v.max_tokens
        if not v.lexical:
            clf.lexical = None
        b1 = throughput(clf, utts[:64], 1, 1)
        b32 = throughput(clf, utts, 32, 2)
        base_speed = base_speed or b32
        clf.batch_size = 32
        f1s, preds = [], []
        for examples in evalsets.values():
            pred = [p.label if p else "neutral" for p in clf.predict([e.text for e in examples])]
            preds += pred
            f1s.append(f1_table([e.label for e in examples], pred)[0])
        labels[v.name] = preds
        f1_mean[v.name] = sum(f1s) / len(f1s)
        d_twin, agree = "", ""
        if v.twin in labels:
            d_twin = f"{f1_mean[v.name] - f1_mean[v.twin]:+.4f}"
            agree = f"{sum(a == b for a, b in zip(preds, labels[v.twin], strict=True)) / len(preds):.3f}"
        depth = v.run_layers or max(clf.layers)
        print(
            f"{v.name:22s} {depth:6d} {b1:9.1f} {b32:10.1f} {b32 / base_speed:7.2f} {f1s[0]:9.4f} {f1s[1]:8.4f} "
            f"{d_twin:>9s} {agree:>6s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
