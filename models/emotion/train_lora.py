"""Fine-tune low-rank adapters on the e5 layers jointly with the head (fixed seed); prints metrics.

    PYTHONPATH=. OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m models.emotion.train_lora

Defaults are the committed artefact's recipe: rank-16 adapters (alpha 32) on all 8 layers of the 8-layer
encoder, a fresh head whose standardisation is fitted on base features of 2,000 training rows, 4 epochs over all
12,415 training rows (~20 min on 2 cores). `--init-head var/emotion/heads/depth8` starts from a frozen-feature
head of `models.emotion.train` instead (the earlier recipe; needs the 25-minute feature cache).
Then run `models.emotion.train_ngram`: its weight against this encoder is chosen for this encoder.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import BertModel

from models.emotion.data import LABEL_INDEX, Example, load_cped, load_smp, training_set
from models.emotion.head import ARTIFACT_DIR, EmotionHead, HeadConfig, load_head, save_head
from models.emotion.lora import adapter_state, add_adapters
from models.emotion.setup import DEFAULT_CACHE_DIR, MODEL_SHA256
from models.emotion.train import load_part, macro_f1, sample_weights, select
from pipelines.emotion import encode_ids, pool_layers
from pipelines.types import EMOTION_LABELS

SEED = 13


def pick_examples(smp_rows: int) -> list[Example]:
    """All CPED-train and JDDC rows plus a seeded sample of the Weibo training rows."""
    rows = training_set()
    smp = [e for e in rows if e.source.startswith("smp")]
    random.Random(SEED).shuffle(smp)
    return [e for e in rows if not e.source.startswith("smp")] + smp[:smp_rows]


def batches(ids: list[list[int]], size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches (little padding) in shuffled order."""
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), rng.random()))
    out = [order[i : i + size] for i in range(0, len(order), size)]
    rng.shuffle(out)
    return out


def to_tensors(ids: list[list[int]], idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded input ids and attention mask for the given rows."""
    width = max(len(ids[i]) for i in idx)
    input_ids = torch.full((len(idx), width), 1, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for r, i in enumerate(idx):
        input_ids[r, : len(ids[i])] = torch.tensor(ids[i])
        mask[r, : len(ids[i])] = 1
    return input_ids, mask


def standardisation_sample(
    model: torch.nn.Module, ids: list[list[int]], layers: tuple[int, ...], init_head: Path | None
) -> torch.Tensor:
    """Frozen pooled features to fit the head's standardisation on (before any adapter moves them).

    With a stage-1 head the cached features it was trained on are used; without one (the default, no
    25-minute feature cache needed) a seeded sample of 2,000 training rows is encoded here.
    """
    if init_head is not None:
        cached = np.concatenate([load_part(p)["feats"] for p in ("train_cped", "train_usual_eval")])
        return select(cached, layers)
    sample = random.Random(SEED).sample(range(len(ids)), min(2000, len(ids)))
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(sample), 64):
            input_ids, mask = to_tensors(ids, sample[start : start + 64])
            out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
            chunks.append(pool_layers(out.hidden_states, mask, layers))
    return torch.cat(chunks)


def evaluate(
    model: torch.nn.Module,
    head: EmotionHead,
    tok: Tokenizer,
    examples: list[Example],
    layers: tuple[int, ...],
) -> float:
    """Macro-F1 of the adapted encoder + head on examples (max 64 tokens, as served)."""
    ids = encode_ids(tok, [e.text for e in examples], 64)
    preds = np.zeros(len(ids), dtype=np.int64)
    head.eval()
    with torch.inference_mode():
        for idx in batches(ids, 32, random.Random(0)):
            input_ids, mask = to_tensors(ids, idx)
            out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
            preds[idx] = head(pool_layers(out.hidden_states, mask, layers)).argmax(-1).numpy()
    return macro_f1(np.array([LABEL_INDEX[e.label] for e in examples]), preds)


def main() -> None:
    """Train adapters + head, print held-out metrics on subsets, save the artefact."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depth", type=int, default=8, help="encoder layers kept (the rest are never run)")
    ap.add_argument("--top", type=int, default=8, help="adapt the top N of the kept layers")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--smp-rows", type=int, default=100_000)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--layers", type=int, nargs="+", default=[6, 7, 8])
    ap.add_argument("--cped-weight", type=float, default=2.0)
    ap.add_argument("--eval-rows", type=int, default=1000)
    ap.add_argument(
        "--init-head",
        type=Path,
        default=None,
        help="start from a frozen-feature head (same layers), e.g. var/emotion/heads/depth8; default: fresh",
    )
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ARTIFACT_DIR)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    layers = tuple(args.layers)

    examples = pick_examples(args.smp_rows)
    tok = Tokenizer.from_file(str(DEFAULT_CACHE_DIR / "tokenizer.json"))
    ids = encode_ids(tok, [e.text for e in examples], args.max_tokens)
    y = torch.tensor([LABEL_INDEX[e.label] for e in examples])
    w = sample_weights(y.numpy(), np.array([e.source for e in examples]), args.cped_weight)

    model = BertModel.from_pretrained(
        str(DEFAULT_CACHE_DIR), local_files_only=True, add_pooling_layer=False, num_hidden_layers=args.depth
    )
    model.eval()  # no dropout in the encoder: deterministic, and the adapters are small
    for p in model.parameters():
        p.requires_grad_(False)
    lora_params = add_adapters(
        model, range(args.depth - args.top, args.depth), rank=args.rank, alpha=args.alpha
    )

    x0 = standardisation_sample(model, ids, layers, args.init_head)
    head = EmotionHead(x0.shape[1], len(EMOTION_LABELS), hidden=256, dropout=0.2)
    head.mean.copy_(x0.mean(0))
    head.scale.copy_(x0.std(0).clamp(min=1e-4))
    if args.init_head is not None:
        init, init_cfg, _ = load_head(args.init_head)
        if tuple(init_cfg.layers) != layers or init_cfg.hidden != 256:
            raise SystemExit(f"--init-head has layers {init_cfg.layers}, hidden {init_cfg.hidden}")
        head.load_state_dict(init.state_dict())
    opt = torch.optim.AdamW(
        [{"params": lora_params, "lr": args.lr}, {"params": list(head.parameters()), "lr": args.head_lr}],
        weight_decay=1e-2,
    )
    n_batches = (len(ids) + 31) // 32
    total = args.epochs * n_batches
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / 50) * (1 - step / total)
    )
    print(f"{len(examples)} training texts, {sum(p.numel() for p in lora_params)} adapter params", flush=True)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        head.train()
        running = 0.0
        for b, idx in enumerate(batches(ids, 32, rng)):
            input_ids, mask = to_tensors(ids, idx)
            out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
            logits = head(pool_layers(out.hidden_states, mask, layers))
            per = torch.nn.functional.cross_entropy(logits, y[idx], reduction="none")
            loss = (per * w[idx]).sum() / w[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
            if (b + 1) % 50 == 0:
                print(
                    f"epoch {epoch} batch {b + 1}/{n_batches} loss {running / 50:.3f} {time.perf_counter() - start:.0f}s",
                    flush=True,
                )
                running = 0.0

    cped = load_cped(test=True)[: args.eval_rows]
    usual = load_smp("usual_test_labeled")[: args.eval_rows // 2]
    print(
        f"held-out subsets: CPED {evaluate(model, head, tok, cped, layers):.4f} (n={len(cped)}), "
        f"usual_test {evaluate(model, head, tok, usual, layers):.4f} (n={len(usual)})",
        flush=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state(model), str(args.out / "lora.safetensors"), metadata={"format": "pt"})
    config = HeadConfig(
        layers=layers,
        hidden=256,
        dropout=0.2,
        max_tokens=64,
        labels=EMOTION_LABELS,
        base_model_sha256=MODEL_SHA256,
    )
    save_head(
        head,
        config,
        args.out,
        extra={
            "seed": SEED,
            "lora": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "train_rows": len(examples),
        },
    )
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
