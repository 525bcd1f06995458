"""Emotion stage speed: utterances/s at batch 1 and 32 on short real utterances, fp32 12-layer baseline vs each
optimisation (int8 dynamic quantisation, fewer layers, shorter max_length), with the macro-F1 each one keeps.

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
    """One configuration to time."""

    name: str
    artifact_dir: Path
    quantize: bool
    max_tokens: int | None = None


def throughput(clf: TransformerEmotionClassifier, texts: list[str], batch_size: int, repeats: int) -> float:
    """Texts per second over `repeats` passes (after one warm-up batch)."""
    clf.batch_size = batch_size
    clf.predict(texts[:batch_size])
    start = time.perf_counter()
    for _ in range(repeats):
        clf.predict(texts)
    return repeats * len(texts) / (time.perf_counter() - start)


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

    variants = [Variant("fp32 12L (baseline)", ARTIFACT_DIR, False), Variant("int8 12L", ARTIFACT_DIR, True)]
    if (ARTIFACT_DIR / "head.json").is_file():
        variants.append(Variant("int8 12L max_len 32", ARTIFACT_DIR, True, 32))
    for depth in (8, 6):
        d = args.heads_dir / f"depth{depth}"
        if (d / "head.json").is_file():
            variants += [Variant(f"fp32 {depth}L", d, False), Variant(f"int8 {depth}L", d, True)]

    print(f"{len(utts)} JDDC customer utterances, mean {mean_chars:.1f} chars; torch threads {args.threads}")
    print(
        f"{'variant':22s} {'b1 utt/s':>9s} {'b32 utt/s':>10s} {'x base':>7s} {'F1 usual':>9s} {'F1 cped':>8s} {'dF1 mean':>9s}"
    )
    base: tuple[float, float] | None = None
    for v in variants:
        clf = load_emotion_classifier(
            DEFAULT_CACHE_DIR,
            artifact_dir=v.artifact_dir,
            num_threads=args.threads,
            quantize=v.quantize,
            verify_checksum=False,
        )
        if v.max_tokens:
            clf.max_tokens = v.max_tokens
        b1 = throughput(clf, utts[:64], 1, 1)
        b32 = throughput(clf, utts, 32, 2)
        clf.batch_size = 32
        f1s = []
        for examples in evalsets.values():
            preds = clf.predict([e.text for e in examples])
            f1s.append(f1_table([e.label for e in examples], [p.label if p else "neutral" for p in preds])[0])
        mean_f1 = sum(f1s) / len(f1s)
        if base is None:
            base = (b32, mean_f1)
        print(
            f"{v.name:22s} {b1:9.1f} {b32:10.1f} {b32 / base[0]:7.2f} {f1s[0]:9.4f} {f1s[1]:8.4f} "
            f"{mean_f1 - base[1]:+9.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
