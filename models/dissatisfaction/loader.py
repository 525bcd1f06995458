"""Build the dissatisfaction model from its committed artefact (no pickle: arrays, vocabulary and JSON)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from models.emotion.setup import ModelAssetError
from pipelines.dissatisfaction import CueGroups, DissatisfactionModel

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifact"
FILES = ("model.safetensors", "vocab.json", "model.json")


def load_dissatisfaction_model(artifact_dir: Path = ARTIFACT_DIR) -> DissatisfactionModel:
    """The trained model; raises ModelAssetError when the artefact is missing or unreadable."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    from sklearn.feature_extraction.text import TfidfVectorizer

    missing = [name for name in FILES if not (artifact_dir / name).is_file()]
    if missing:
        raise ModelAssetError(
            f"dissatisfaction artefact lacks {', '.join(missing)} in {artifact_dir} (restore it from git)"
        )
    try:
        meta = json.loads((artifact_dir / "model.json").read_text())
        t = load_file(str(artifact_dir / "model.safetensors"))
        vocab = json.loads((artifact_dir / "vocab.json").read_text())
        cfg = meta["config"]
        cues = CueGroups(
            agent=tuple((name, tuple(p)) for name, p in cfg["cues"]["agent"]),
            customer=tuple((name, tuple(p)) for name, p in cfg["cues"]["customer"]),
        )
        vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=(int(cfg["ngram_range"][0]), int(cfg["ngram_range"][1])),
            sublinear_tf=True,
            vocabulary={gram: i for i, gram in enumerate(vocab)},
            dtype=np.float32,
        )
        # Setting idf_ is scikit-learn's supported way to restore a fitted idf without refitting.
        vectorizer.idf_ = t["idf"].astype(np.float64)
        return DissatisfactionModel(
            cues=cues,
            dense_mean=t["dense_mean"].astype(np.float64),
            dense_scale=t["dense_scale"].astype(np.float64),
            pooled_mean=t["pooled_mean"].astype(np.float64),
            pooled_scale=t["pooled_scale"].astype(np.float64),
            vectorizer=vectorizer,
            coef=t["coef"].astype(np.float64),
            intercept=float(t["intercept"][0]),
            threshold=float(meta["threshold"]),
            version=dissatisfaction_version(artifact_dir),
        )
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise ModelAssetError(
            f"dissatisfaction artefact in {artifact_dir} is unreadable ({exc}); restore it from git"
        ) from exc


def dissatisfaction_version(artifact_dir: Path = ARTIFACT_DIR) -> str:
    """Version stored with every score: e5s-dissat-<sha256(artefact files)[:12]>."""
    h = hashlib.sha256()
    for name in FILES:
        h.update((artifact_dir / name).read_bytes())
    return f"e5s-dissat-{h.hexdigest()[:12]}"
