"""Cache the served emotion encoder's pooled features (the abuse head's input) for the abuse corpora."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from models.abuse.data import Example, jddc_bucket, load_cold, load_cs_examples, load_jddc_turns
from models.emotion.setup import DEFAULT_CACHE_DIR, REPO_ROOT
from models.emotion.train_features import save_features

FEATURE_DIR = REPO_ROOT / "var" / "abuse" / "features"


def _jddc_all() -> list[Example]:
    # Every customer turn, in file order; the source records the session bucket (0-1 held out from training).
    return [Example(t, 0, f"jddc:{jddc_bucket(sid)}") for sid, t in load_jddc_turns()]


def datasets() -> dict[str, Callable[[], list[Example]]]:
    """Named corpora whose features get cached."""
    return {
        "cs_train": lambda: load_cs_examples(heldout=False),
        "cs_heldout": lambda: load_cs_examples(heldout=True),
        "jddc_customer": _jddc_all,
        "cold_validation": lambda: load_cold("validation"),
        "cold_dev": lambda: load_cold("dev"),
        "cold_train": lambda: load_cold("train"),
    }


def extract(names: list[str], *, model_dir: Path, out_dir: Path, threads: int, force: bool = False) -> None:
    """Write <out_dir>/<name>.npz (float16 features, labels, texts, sources) with the served encoder."""
    from models.emotion.loader import load_emotion_classifier

    clf = load_emotion_classifier(model_dir, num_threads=threads, verify_checksum=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = datasets()
    for name in names:
        target = out_dir / f"{name}.npz"
        if target.exists() and not force:
            print(f"{name}: cached")
            continue
        examples = table[name]()
        start = time.perf_counter()
        feats = clf.features([e.text for e in examples])
        save_features(target, feats, examples)
        dt = time.perf_counter() - start
        print(f"{name}: {len(examples)} texts in {dt:.0f} s ({len(examples) / dt:.1f}/s)", flush=True)


def main() -> None:
    """CLI: cache features for all (or the named) corpora."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--model-dir", type=Path, default=DEFAULT_CACHE_DIR)
    ap.add_argument("--out-dir", type=Path, default=FEATURE_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="re-extract even when cached")
    args = ap.parse_args()
    extract(
        args.names or list(datasets()),
        model_dir=args.model_dir,
        out_dir=args.out_dir,
        threads=args.threads,
        force=args.force,
    )


if __name__ == "__main__":
    main()
