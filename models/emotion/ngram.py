"""The lexical half of the emotion model: character 1-3-gram TF-IDF features and a linear layer.

It sees surface cues the 8-layer encoder under-uses (Weibo emoticons like [怒], 气死, 呜呜, repeated ！) and its
errors differ from the encoder's, so the two are combined as a weighted mean of log-probabilities
(`pipelines.emotion.TransformerEmotionClassifier`). Stored without pickle: the vocabulary (JSON list in column
order), idf, coefficients (float16, lossless for the labels: measured identical macro-F1) and intercepts
(safetensors). At load time scikit-learn's own TfidfVectorizer is rebuilt around them, so the features are
computed by the same code that trained it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

NGRAM_FILES = ("ngram.safetensors", "ngram_vocab.json", "ngram.json")


@dataclass(frozen=True, slots=True)
class NgramConfig:
    """How the features are made and how much the lexical scores weigh against the encoder's."""

    ngram_range: tuple[int, int]
    weight: float  # share of the lexical log-probabilities in the combined score (0 = encoder only)
    max_chars: int  # texts are cut to this many characters: bounds work on pathological input
    labels: tuple[str, ...]


class NgramScorer:
    """Log-probabilities over the labels from character n-gram TF-IDF features (linear, L2-normalised)."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        config: NgramConfig,
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if coef.shape != (len(config.labels), len(vocabulary)) or idf.shape != (len(vocabulary),):
            raise ValueError(
                f"n-gram shapes disagree: vocab {len(vocabulary)}, idf {idf.shape}, coef {coef.shape}"
            )
        self.config = config
        self._vectorizer = TfidfVectorizer(
            analyzer="char",
            ngram_range=config.ngram_range,
            sublinear_tf=True,
            vocabulary={gram: i for i, gram in enumerate(vocabulary)},
            dtype=np.float32,
        )
        # Setting idf_ is scikit-learn's supported way to restore a fitted idf without refitting.
        self._vectorizer.idf_ = idf.astype(np.float64)
        self._coef_t = np.ascontiguousarray(coef.astype(np.float32).T)
        self._intercept = intercept.astype(np.float32)

    def log_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), n_labels) log-probabilities; texts are expected already preprocessed (t2s)."""
        if not texts:
            return torch.empty((0, len(self.config.labels)))
        features = self._vectorizer.transform([t[: self.config.max_chars] for t in texts])
        logits = np.asarray(features @ self._coef_t) + self._intercept
        return torch.log_softmax(torch.from_numpy(logits), dim=-1)


def save_ngram(
    directory: Path,
    *,
    vocabulary: Sequence[str],
    idf: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray,
    config: NgramConfig,
    extra: dict[str, object],
) -> None:
    """Write ngram.safetensors (idf, coef fp16, intercept), ngram_vocab.json and ngram.json (config + metadata)."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    # C order is required: safetensors writes the raw buffer, and scikit-learn's coef_ is Fortran-ordered.
    tensors: dict[str, np.ndarray] = {
        "idf": np.ascontiguousarray(idf, dtype=np.float32),
        "coef": np.ascontiguousarray(coef, dtype=np.float16),
        "intercept": np.ascontiguousarray(intercept, dtype=np.float32),
    }
    save_file(tensors, str(directory / "ngram.safetensors"))
    (directory / "ngram_vocab.json").write_text(json.dumps(list(vocabulary), ensure_ascii=False) + "\n")
    meta = {"config": asdict(config), **extra}
    (directory / "ngram.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )


def load_ngram(directory: Path) -> NgramScorer | None:
    """The stored n-gram scorer, or None when the artefact has none of its files (encoder-only model).

    Some files but not all raise FileNotFoundError: half an artefact must not silently serve the encoder alone.
    """
    from safetensors.numpy import load_file

    present = [name for name in NGRAM_FILES if (directory / name).is_file()]
    if not present:
        return None
    if len(present) < len(NGRAM_FILES):
        missing = sorted(set(NGRAM_FILES) - set(present))
        raise FileNotFoundError(f"n-gram artefact in {directory} lacks {', '.join(missing)}")
    raw = json.loads((directory / "ngram.json").read_text())["config"]
    config = NgramConfig(
        ngram_range=(int(raw["ngram_range"][0]), int(raw["ngram_range"][1])),
        weight=float(raw["weight"]),
        max_chars=int(raw["max_chars"]),
        labels=tuple(raw["labels"]),
    )
    tensors = load_file(str(directory / "ngram.safetensors"))
    vocabulary = json.loads((directory / "ngram_vocab.json").read_text())
    return NgramScorer(vocabulary, tensors["idf"], tensors["coef"], tensors["intercept"], config)
