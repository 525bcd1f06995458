"""Cache the served emotion model's per-utterance probabilities and pooled features for STC-3 and JDDC.

Retraining the dissatisfaction model then reads var/dissatisfaction/features/<set>.npz and never runs the
encoder again: `python -m models.dissatisfaction.train_features [stc3 jddc] [--force]`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from models.dissatisfaction.data import Dialogue, load_jddc, load_stc3
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT

FEATURE_DIR = REPO_ROOT / "var" / "dissatisfaction" / "features"
SETS = {"stc3": load_stc3, "jddc": load_jddc}


def extract(
    names: list[str],
    *,
    model_dir: Path,
    out_dir: Path,
    threads: int,
    force: bool,
    int8: bool = False,
    distilled: bool = False,
) -> None:
    """Write <out_dir>/<name>.npz: probs (N, 6) float32, features (N, D) float16, row = utterance in order."""
    from models.emotion.loader import load_emotion_classifier

    clf = load_emotion_classifier(
        model_dir, num_threads=threads, verify_checksum=False, quantize=int8, distilled=distilled
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = out_dir / f"{name}.npz"
        if target.exists() and not force:
            print(f"{name}: cached")
            continue
        dialogues: list[Dialogue] = SETS[name]()
        texts = [text for d in dialogues for _, text in d.utterances]
        start = time.perf_counter()
        probs: list[np.ndarray] = []
        feats: list[np.ndarray] = []
        for i in range(0, len(texts), 512):  # chunks keep memory flat and show progress
            preds, f = clf.predict_with_features(texts[i : i + 512])
            probs.append(np.array([[p.probs[k] for k in sorted(p.probs)] if p else [0.0] * 6 for p in preds]))
            feats.append(f.numpy().astype(np.float16))
            print(f"{name}: {i + 512}/{len(texts)} {time.perf_counter() - start:.0f} s", flush=True)
        labels = sorted(preds[0].probs) if preds and preds[0] else []
        np.savez_compressed(
            target,
            probs=np.concatenate(probs).astype(np.float32),
            features=np.concatenate(feats),
            labels=np.array(labels),
            version=np.array(clf.version),
        )
        dt = time.perf_counter() - start
        print(f"{name}: {len(texts)} utterances in {dt:.0f} s ({len(texts) / dt:.1f}/s)", flush=True)


def main() -> None:
    """CLI: cache features for all (or the named) sets."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--out-dir", type=Path, default=FEATURE_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true")
    ap.add_argument(
        "--int8", action="store_true", help="the encoder's int8 graph (written to <out-dir>/int8)"
    )
    ap.add_argument(
        "--distilled",
        action="store_true",
        help="the 4-layer student encoder (written to <out-dir>/distilled[-int8])",
    )
    args = ap.parse_args()
    extract(
        args.names or list(SETS),
        model_dir=args.model_dir,
        out_dir=args.out_dir / variant_dir(int8=args.int8, distilled=args.distilled),
        threads=args.threads,
        force=args.force,
        int8=args.int8,
        distilled=args.distilled,
    )


def variant_dir(*, int8: bool, distilled: bool) -> str:
    """Sub-directory of the feature cache for an encoder variant ('' for the served full fp32 encoder)."""
    return "-".join(name for name, on in (("distilled", distilled), ("int8", int8)) if on)


if __name__ == "__main__":
    main()
