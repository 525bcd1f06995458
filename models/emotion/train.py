"""Train the emotion head on cached pooled e5 features (run train_features first); fixed seed, prints metrics.

PYTHONPATH=. .venv/bin/python -m models.emotion.train_features   # ~20 min on 2 cores, once
PYTHONPATH=. .venv/bin/python -m models.emotion.train             # ~2 min: grid on dev, fit, save artefact
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from models.emotion.data import LABEL_INDEX
from models.emotion.head import ARTIFACT_DIR, EmotionHead, HeadConfig, save_head
from models.emotion.setup import MODEL_SHA256, REPO_ROOT
from models.emotion.train_features import FEATURE_DIR
from pipelines.types import EMOTION_LABELS

SEED = 13
TRAIN_PARTS = ("train_cped", "train_jddc", "train_usual_eval", "train_virus", "train_jddc_short")
# Candidate pooled-layer sets, grouped by encoder depth (how many layers must actually run).
# (A first run with linear heads and more sets: the MLP was better on dev in every case, so the grid is trimmed.)
LAYER_SETS: dict[int, tuple[tuple[int, ...], ...]] = {
    12: ((12,), (10, 11, 12), (4, 8, 12)),
    10: ((10,), (5, 10)),
    8: ((8,), (6, 7, 8), (4, 8)),
    6: ((6,), (3, 6)),
}
HIDDEN = (256,)
HEADS_DIR = REPO_ROOT / "var" / "emotion" / "heads"


def load_part(name: str, feature_dir: Path = FEATURE_DIR) -> dict[str, np.ndarray]:
    """Cached features (n, 13, 384) float16, labels, texts and sources of one corpus."""
    with np.load(feature_dir / f"{name}.npz") as z:
        return {k: z[k] for k in z.files}


def select(feats: np.ndarray, layers: tuple[int, ...]) -> torch.Tensor:
    """Concatenate the chosen layers' pooled vectors, as the runtime classifier does."""
    return torch.from_numpy(feats[:, list(layers), :].reshape(len(feats), -1).astype(np.float32))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the six product labels."""
    return float(
        f1_score(y_true, y_pred, labels=list(range(len(EMOTION_LABELS))), average="macro", zero_division=0)
    )


def fit_head(
    x: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    *,
    hidden: int,
    epochs: int,
    dev: tuple[torch.Tensor, np.ndarray, np.ndarray] | None = None,
) -> tuple[EmotionHead, int, float]:
    """Class- and source-weighted cross-entropy with Adam; with dev data, keep the best epoch (by dev score)."""
    torch.manual_seed(SEED)
    head = EmotionHead(x.shape[1], len(EMOTION_LABELS), hidden=hidden, dropout=0.2 if hidden else 0.0)
    head.mean.copy_(x.mean(0))  # type: ignore[operator]
    head.scale.copy_(x.std(0).clamp(min=1e-4))  # type: ignore[operator]
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2 if hidden else 1e-3)
    gen = torch.Generator().manual_seed(SEED)
    best = (-1.0, 0, {k: v.clone() for k, v in head.state_dict().items()})
    for epoch in range(1, epochs + 1):
        head.train()
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 256):
            idx = perm[start : start + 256]
            loss = (
                torch.nn.functional.cross_entropy(head(x[idx]), y[idx], reduction="none") * weights[idx]
            ).sum()
            loss = loss / weights[idx].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if dev is not None:
            score = dev_score(head, *dev)
            if score > best[0]:
                best = (score, epoch, {k: v.clone() for k, v in head.state_dict().items()})
    if dev is None:
        return head.eval(), epochs, float("nan")
    head.load_state_dict(best[2])
    return head.eval(), best[1], best[0]


def predict(head: EmotionHead, x: torch.Tensor) -> np.ndarray:
    """Arg-max label indices."""
    head.eval()
    with torch.inference_mode():
        return head(x).argmax(-1).numpy()


def dev_score(head: EmotionHead, x: torch.Tensor, y: np.ndarray, is_cped: np.ndarray) -> float:
    """Mean of the Weibo and the CPED macro-F1 on the dev split (both domains matter equally)."""
    pred = predict(head, x)
    return (macro_f1(y[~is_cped], pred[~is_cped]) + macro_f1(y[is_cped], pred[is_cped])) / 2


def sample_weights(
    y: np.ndarray, sources: np.ndarray, cped_weight: float, spoken: tuple[str, ...] = ("cped",)
) -> torch.Tensor:
    """Balanced class weights times an up-weight for spoken-style rows (sources starting with `spoken`)."""
    counts = np.bincount(y, minlength=len(EMOTION_LABELS)).astype(np.float64)
    w = (len(y) / (len(EMOTION_LABELS) * np.maximum(counts, 1)))[y]
    is_spoken = np.array([str(s).startswith(spoken) for s in sources], dtype=bool)
    w = w * np.where(is_spoken, cped_weight, 1.0)
    return torch.from_numpy(w.astype(np.float32))


def main() -> None:
    """Grid over layer sets and head sizes on a dev split, refit the best per depth, save the chosen one."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depth", type=int, default=8, help="encoder layers of the committed artefact")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--cped-weight", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ARTIFACT_DIR)
    ap.add_argument("--depths", type=int, nargs="+", default=list(LAYER_SETS), help="encoder depths to try")
    ap.add_argument(
        "--layers", type=int, nargs="+", default=None, help="fix the pooled layers (one depth only)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(SEED)
    np.random.seed(SEED)

    available = [p for p in TRAIN_PARTS if (FEATURE_DIR / f"{p}.npz").is_file()]
    print(f"training parts: {available} (missing: {sorted(set(TRAIN_PARTS) - set(available))})")
    parts = [load_part(p) for p in available]
    feats = np.concatenate([p["feats"] for p in parts])
    y_all = np.array([LABEL_INDEX[str(v)] for p in parts for v in p["labels"]])
    sources = np.concatenate([p["sources"] for p in parts]).astype(str)
    is_cped = np.char.startswith(sources, "cped")
    rng = np.random.default_rng(SEED)
    dev_mask = rng.random(len(y_all)) < 0.12
    tests = {n: load_part(n) for n in ("test_usual", "test_cped") if (FEATURE_DIR / f"{n}.npz").is_file()}
    depths = [d for d in LAYER_SETS if d in args.depths]
    layer_sets = dict(LAYER_SETS)
    if args.layers:
        if len(depths) != 1 or max(args.layers) != depths[0]:
            raise SystemExit("--layers needs exactly one --depths equal to its largest layer")
        layer_sets[depths[0]] = (tuple(args.layers),)
    print(f"train {int((~dev_mask).sum())}  dev {int(dev_mask.sum())}  (cped rows {int(is_cped.sum())})")

    results = []
    for depth in depths:
        for layers in layer_sets[depth]:
            x = select(feats, layers)
            for hidden in HIDDEN:
                tr = torch.from_numpy(~dev_mask)
                w = sample_weights(y_all[~dev_mask], sources[~dev_mask], args.cped_weight)
                head, best_epoch, score = fit_head(
                    x[tr],
                    torch.from_numpy(y_all[~dev_mask]),
                    w,
                    hidden=hidden,
                    epochs=args.epochs,
                    dev=(x[torch.from_numpy(dev_mask)], y_all[dev_mask], is_cped[dev_mask]),
                )
                results.append(
                    {"depth": depth, "layers": layers, "hidden": hidden, "epochs": best_epoch, "dev": score}
                )
                print(
                    f"depth {depth:2d} layers {str(layers):14s} hidden {hidden:3d}  dev {score:.4f} @ep{best_epoch}",
                    flush=True,
                )

    HEADS_DIR.mkdir(parents=True, exist_ok=True)
    summary = {}
    for depth in depths:
        best = max((r for r in results if r["depth"] == depth), key=lambda r: r["dev"])
        layers, hidden = best["layers"], best["hidden"]
        x = select(feats, layers)
        head, _, _ = fit_head(
            x,
            torch.from_numpy(y_all),
            sample_weights(y_all, sources, args.cped_weight),
            hidden=hidden,
            epochs=best["epochs"],
        )
        metrics = {"dev_score": round(best["dev"], 4)}
        for name, t in tests.items():
            pred = predict(head, select(t["feats"], layers))
            yt = np.array([LABEL_INDEX[str(v)] for v in t["labels"]])
            metrics[f"{name}_macro_f1"] = round(macro_f1(yt, pred), 4)
        config = HeadConfig(
            layers=tuple(layers),
            hidden=hidden,
            dropout=0.2 if hidden else 0.0,
            max_tokens=64,
            labels=EMOTION_LABELS,
            base_model_sha256=MODEL_SHA256,
        )
        extra = {
            "epochs": best["epochs"],
            "seed": SEED,
            "cped_weight": args.cped_weight,
            "feature_metrics": metrics,
            "train_rows": int(len(y_all)),
        }
        save_head(head, config, HEADS_DIR / f"depth{depth}", extra=extra)
        if depth == args.depth:
            save_head(head, config, args.out, extra=extra)
            # Adapters belong to the head they were trained with; a new frozen head must not inherit stale ones.
            (args.out / "lora.safetensors").unlink(missing_ok=True)
        summary[depth] = {"layers": layers, "hidden": hidden, **metrics}
        print(f"depth {depth}: {json.dumps(summary[depth])}", flush=True)
    print(f"saved depth-{args.depth} head to {args.out}")


if __name__ == "__main__":
    main()
