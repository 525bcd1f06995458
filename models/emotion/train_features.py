"""Cache mean-pooled hidden states of every e5 layer for the training and evaluation corpora."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.emotion.data import (
    Example,
    is_plain_question,
    jddc_neutral_train,
    jddc_short_neutral,
    load_cped,
    load_jddc_customer,
    load_smp,
    training_set,
)
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT

FEATURE_DIR = REPO_ROOT / "var" / "emotion" / "features"
ALL_LAYERS = tuple(range(13))  # 0 = embeddings, 12 = last layer


def _train_parts() -> dict[str, Callable[[], list[Example]]]:
    def part(prefix: str) -> Callable[[], list[Example]]:
        return lambda: [e for e in training_set() if e.source.startswith(prefix)]

    return {
        "train_cped": part("cped"),
        "train_jddc": lambda: jddc_neutral_train(),
        "train_jddc_short": lambda: jddc_short_neutral(),
        "train_usual_eval": part("smp:usual_eval"),
        "train_virus": part("smp:virus"),
    }


def datasets() -> dict[str, Callable[[], list[Example]]]:
    """Named corpora whose features get cached (evaluation sets first: they are needed whatever the head)."""
    return {
        "test_cped": lambda: load_cped(test=True),
        "heldout_jddc": lambda: [
            Example(t, "neutral", "jddc") for t in load_jddc_customer(heldout=True) if is_plain_question(t)
        ],
        **_train_parts(),
        "test_usual": lambda: load_smp("usual_test_labeled"),
    }


def extraction_order() -> list[str]:
    """Short corpora first, so a first head can be trained while the long Weibo posts are still encoding."""
    return [
        "test_cped",
        "heldout_jddc",
        "train_cped",
        "train_jddc",
        "train_usual_eval",
        "test_usual",
        "train_virus",
    ]


def extract(names: list[str], *, model_dir: Path, out_dir: Path, threads: int, max_tokens: int) -> None:
    """Write <out_dir>/<name>.npz (float16 features (n, 13, 384), labels, texts) for each named corpus."""
    from tokenizers import Tokenizer
    from transformers import BertModel

    from pipelines.emotion import TransformerEmotionClassifier

    torch.set_num_threads(threads)
    model = BertModel.from_pretrained(str(model_dir), local_files_only=True, add_pooling_layer=False)
    clf = TransformerEmotionClassifier(
        tokenizer=Tokenizer.from_file(str(model_dir / "tokenizer.json")),
        encoder=model,
        head=torch.nn.Identity(),
        layers=ALL_LAYERS,
        version="features",
        max_tokens=max_tokens,
        batch_size=32,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    table = datasets()
    for name in names:
        target = out_dir / f"{name}.npz"
        if target.exists():
            print(f"{name}: cached")
            continue
        examples = table[name]()
        start = time.perf_counter()
        feats = clf.features([e.text for e in examples]).reshape(len(examples), len(ALL_LAYERS), -1)
        save_features(target, feats, examples)
        dt = time.perf_counter() - start
        print(f"{name}: {len(examples)} texts in {dt:.0f} s ({len(examples) / dt:.1f}/s)", flush=True)


def save_features(target: Path, feats: torch.Tensor, examples: Sequence[Any]) -> None:
    """Write a feature cache (float16 features, labels, texts, sources) atomically: a half-written file never counts."""
    tmp = target.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        feats=feats.numpy().astype(np.float16),
        labels=np.array([e.label for e in examples]),
        texts=np.array([e.text for e in examples]),
        sources=np.array([e.source for e in examples]),
    )
    tmp.rename(target)


def main() -> None:
    """CLI: cache features for all (or the named) corpora."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--out-dir", type=Path, default=FEATURE_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    names = args.names or extraction_order()
    extract(
        names,
        model_dir=args.model_dir,
        out_dir=args.out_dir,
        threads=args.threads,
        max_tokens=args.max_tokens,
    )


if __name__ == "__main__":
    main()
