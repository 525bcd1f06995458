"""Emotion stage speed: utterances/s at batch 1 and 32 on short real customer utterances, the unoptimised torch
encoder (the baseline, measured in the same run) vs each optimisation (ONNX Runtime graph with fused attention,
its int8 weights, torch's dynamic int8, fewer layers, shorter max_length, the distilled 4-layer student served
by default in fp32 and int8), with the macro-F1 each keeps on every
evaluation set (SMP2020 usual_test, CPED held-out series, SCMED spoken-style sentences: none trained on) and
the change against its unoptimised twin.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_emotion [--threads 2] [--eval-rows 2000] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path
from typing import Literal

import torch

from evaluation.eval_emotion import f1_table
from models.emotion.data import load_cped, load_jddc_customer, load_scmed, load_smp
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT
from models.emotion.student import load_student_config, student_files
from pipelines.emotion import TransformerEmotionClassifier

HEADS_DIR = REPO_ROOT / "var" / "emotion" / "heads"
# The speed target's baseline: the served artefact in torch eager, as it was served before the ONNX graph.
BASELINE = "torch fp32 (unopt.)"


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
    backend: Literal["onnx", "torch"] = "torch"
    distilled: bool = False  # the 4-layer student (models/emotion/student.py) instead of the 8 layers


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
    base = BASELINE
    out += [
        # The served weights in an unpruned 12-layer encoder: same labels, the cost of not cutting layers.
        Variant("torch 12L run", ARTIFACT_DIR, False, lexical=False, run_layers=12),
        Variant("torch encoder only", ARTIFACT_DIR, False, lexical=False, twin="torch 12L run"),
        # The baseline of the speed target: the served artefact in torch eager, as served until the ONNX graph.
        Variant(base, ARTIFACT_DIR, False),
        Variant("torch int8 dynamic", ARTIFACT_DIR, True, twin=base),
        Variant("onnx fp32", ARTIFACT_DIR, False, twin=base, backend="onnx"),
        Variant("onnx int8 (auto: VNNI)", ARTIFACT_DIR, True, twin=base, backend="onnx"),
        Variant("onnx int8, len 32", ARTIFACT_DIR, True, 32, twin=base, backend="onnx"),
    ]
    if student_files(ARTIFACT_DIR)[0].is_file():
        out += [
            Variant("onnx fp32 distilled", ARTIFACT_DIR, False, twin=base, backend="onnx", distilled=True),
            Variant("onnx int8 distilled", ARTIFACT_DIR, True, twin=base, backend="onnx", distilled=True),
        ]
    return out


def main() -> None:
    """Print the benchmark table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--utterances", type=int, default=256)
    ap.add_argument(
        "--rounds", type=int, default=3, help="timed passes per variant, interleaved; median shown"
    )
    ap.add_argument("--eval-rows", type=int, default=2000, help="rows of each test set for macro-F1 (0: all)")
    ap.add_argument("--quick", action="store_true", help="only the baseline and the ONNX variants")
    ap.add_argument(
        "--heads-dir", type=Path, default=HEADS_DIR, help="per-depth heads written by models.emotion.train"
    )
    args = ap.parse_args()
    torch.manual_seed(0)

    # Short real customer utterances (JDDC held-out sessions): the served workload.
    utts = [t for t in load_jddc_customer(heldout=True) if len(t) >= 2][: args.utterances]
    mean_chars = sum(map(len, utts)) / len(utts)
    rows = args.eval_rows or None
    evalsets = {
        "usual": [(e.text, e.label) for e in load_smp("usual_test_labeled")[:rows]],
        "cped": [(e.text, e.label) for e in load_cped(test=True)[:rows]],
        "scmed": [(e.text, e.label) for e in load_scmed("test")[:rows]],
    }
    print(
        f"{len(utts)} JDDC customer utterances, mean {mean_chars:.1f} chars; {args.threads} threads; speed = "
        f"median of {args.rounds} interleaved passes; macro-F1 on "
        + ", ".join(f"{len(v)} rows of {k}" for k, v in evalsets.items())
        + f"; load average {os.getloadavg()[0]:.1f}"
    )
    chosen = [
        v for v in variants(args.heads_dir) if not args.quick or v.backend == "onnx" or v.name == BASELINE
    ]
    models = {v.name: load_variant(v, args.threads) for v in chosen}
    b1 = {name: throughput(clf, utts[:64], 1, 1) for name, clf in models.items()}
    b32: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):  # interleaved, so a change of load hits every variant alike
        for name, clf in models.items():
            b32[name].append(throughput(clf, utts, 32, 1))
    speed = {name: statistics.median(v) for name, v in b32.items()}
    base_speed = speed.get(BASELINE, next(iter(speed.values())))

    print(
        f"{'variant':20s} {'layers':>6s} {'b1 utt/s':>9s} {'b32 utt/s':>10s} {'x base':>7s} "
        + " ".join(f"{'F1 ' + k:>9s}" for k in evalsets)
        + f" {'worst dF1':>9s} {'agree':>6s}"
    )
    labels: dict[str, list[str]] = {}
    f1: dict[str, list[float]] = {}
    for v in chosen:
        clf = models[v.name]
        clf.batch_size = 32
        preds: list[str] = []
        f1[v.name] = []
        for examples in evalsets.values():
            pred = [p.label if p else "neutral" for p in clf.predict([t for t, _ in examples])]
            preds += pred
            f1[v.name].append(f1_table([g for _, g in examples], pred)[0])
        labels[v.name] = preds
        d_twin, agree = "", ""
        if v.twin in labels:
            d_twin = f"{min(a - b for a, b in zip(f1[v.name], f1[v.twin], strict=True)):+.4f}"
            agree = f"{sum(a == b for a, b in zip(preds, labels[v.twin], strict=True)) / len(preds):.3f}"
        depth = v.run_layers or (
            load_student_config(v.artifact_dir).layers if v.distilled else max(clf.layers)
        )
        print(
            f"{v.name:20s} {depth:6d} {b1[v.name]:9.1f} {speed[v.name]:10.1f} {speed[v.name] / base_speed:7.2f} "
            + " ".join(f"{x:9.4f}" for x in f1[v.name])
            + f" {d_twin:>9s} {agree:>6s}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def load_variant(v: Variant, threads: int) -> TransformerEmotionClassifier:
    """The classifier of one variant, configured as the table says."""
    clf = load_emotion_classifier(
        DEFAULT_CACHE_DIR,
        artifact_dir=v.artifact_dir,
        num_threads=threads,
        quantize=v.quantize,
        verify_checksum=False,
        run_layers=v.run_layers,
        backend=v.backend,
        distilled=v.distilled,
    )
    if v.max_tokens:
        clf.max_tokens = v.max_tokens
    if not v.lexical:
        clf.lexical = None
    return clf


if __name__ == "__main__":
    main()
