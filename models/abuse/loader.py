"""Build the abuse classifier from its committed artefact; it reads the served emotion encoder's features."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from models.emotion.head import load_head
from models.emotion.ngram import NGRAM_FILES, load_ngram
from models.emotion.setup import ModelAssetError
from pipelines.abuse import AbuseClassifier

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifact"
ABUSE_LABELS = ("safe", "abuse")


def load_abuse_classifier(
    *, emotion_layers: tuple[int, ...], base_model_sha256: str, artifact_dir: Path = ARTIFACT_DIR
) -> AbuseClassifier:
    """The trained head (+ n-gram half, combination weight, threshold) for features pooled from `emotion_layers`.

    Raises ModelAssetError when the artefact is missing or unreadable, or was trained on other features than
    the emotion classifier computes (other pooled layers or another base model).
    """
    import opencc
    from safetensors import SafetensorError

    if not (artifact_dir / "head.safetensors").is_file():
        raise ModelAssetError(f"abuse head missing from {artifact_dir} (it is committed in git; restore it)")
    try:
        head, config, meta = load_head(artifact_dir)
        lexical = load_ngram(artifact_dir)
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise ModelAssetError(
            f"abuse artefact in {artifact_dir} is unreadable ({exc}); restore it from git"
        ) from exc
    if tuple(config.labels) != ABUSE_LABELS or (lexical and tuple(lexical.config.labels) != ABUSE_LABELS):
        raise ModelAssetError(f"abuse artefact labels {config.labels} differ from {ABUSE_LABELS}")
    if tuple(config.layers) != tuple(emotion_layers) or config.base_model_sha256 != base_model_sha256:
        raise ModelAssetError(
            "abuse head was trained on other encoder features than the emotion model serves "
            f"(layers {config.layers} vs {emotion_layers}); retrain it: python -m models.abuse.train"
        )
    return AbuseClassifier(
        head=head,
        threshold=float(str(meta["threshold"])),
        version=abuse_version(artifact_dir),
        lexical=lexical,
        lexical_weight=lexical.config.weight if lexical is not None else 0.0,
        preprocess=opencc.OpenCC("t2s").convert,
    )


def abuse_version(artifact_dir: Path = ARTIFACT_DIR) -> str:
    """Version recorded with the model: e5s-abuse-<sha256(head + head.json + n-gram files)[:12]>."""
    h = hashlib.sha256()
    for name in ("head.safetensors", "head.json", *NGRAM_FILES):
        if (artifact_dir / name).is_file():
            h.update((artifact_dir / name).read_bytes())
    return f"e5s-abuse-{h.hexdigest()[:12]}"


def base_model_sha256(model_root: Path) -> str:
    """The materialised base model's sha256 as recorded by `audit models setup`."""
    return str(json.loads((Path(model_root) / "materialized.json").read_text())["model_sha256"])
