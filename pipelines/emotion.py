"""Utterance emotion classification (batched) and the customer's emotion summary over a conversation."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

import torch
from tokenizers import Tokenizer

from pipelines.types import (
    EMOTION_LABELS,
    NEGATIVE_EMOTIONS,
    ConversationEmotion,
    EmotionLabel,
    EmotionPrediction,
    Speaker,
    Utterance,
)

# Trajectory thresholds on mean negativity (P(angry)+P(sad)+P(anxious)) of the first vs the last third.
ESCALATION_DELTA = 0.25
CALMING_DELTA = 0.25
# Fewer scored customer turns than this and thirds mean nothing: trajectory is "unknown".
MIN_TURNS_FOR_TRAJECTORY = 2
# ends_angry needs the last customer turn to be top-1 angry with at least this probability.
ENDS_ANGRY_MIN_CONFIDENCE = 0.5

Trajectory = Literal["escalated", "calmed", "stable", "unknown"]

E5_QUERY_PREFIX = "query: "
# Characters kept before tokenising: bounds tokeniser work on pathological inputs; the token cap below decides.
_CHARS_PER_TOKEN_CAP = 8


class EmotionClassifier(Protocol):
    """What the orchestrator needs: a version string and a batched predict.

    predict returns None for an utterance with no text (empty or whitespace only): claiming 'neutral' for
    silence would be a made-up prediction.
    """

    version: str

    def predict(self, texts: Sequence[str]) -> list[EmotionPrediction | None]:
        """One prediction per text, in order; None where the text is empty or whitespace."""
        ...


@runtime_checkable
class FeatureEmotionClassifier(EmotionClassifier, Protocol):
    """An emotion classifier that also hands out the pooled encoder features (read by the abuse head)."""

    def predict_with_features(
        self, texts: Sequence[str]
    ) -> tuple[list[EmotionPrediction | None], torch.Tensor]:
        """`predict` plus (len(texts), D) features, a zero row where the text is empty."""
        ...


class PooledEncoder(Protocol):
    """The encoder pass the head reads: (input_ids, attention_mask) -> pooled features (batch, len(layers)*H).

    Two implementations: `TorchPooledEncoder` (a transformers BertModel, eager) and the ONNX Runtime graph of the
    same computation (models/emotion/onnx_encoder.py), which the service runs because it is faster on our cores.
    """

    width: int

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled features, one row per input row."""
        ...


class TorchPooledEncoder:
    """A BertModel-like module (returns `hidden_states` on request) with the mask-aware layer pooling on top."""

    def __init__(self, encoder: torch.nn.Module, layers: Sequence[int]) -> None:
        self.module = encoder.eval()
        self.layers = tuple(layers)
        self.width = len(self.layers) * _hidden_size(encoder)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled features of the chosen layers, computed without autograd."""
        with torch.inference_mode():
            out = self.module(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
            return pool_layers(out.hidden_states, attention_mask, self.layers)


class LexicalScorer(Protocol):
    """A second, surface-feature opinion: log-probabilities over EMOTION_LABELS for preprocessed texts."""

    def log_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), len(EMOTION_LABELS)) log-probabilities."""
        ...


def pool_layers(
    hidden_states: Sequence[torch.Tensor], attention_mask: torch.Tensor, layers: Sequence[int]
) -> torch.Tensor:
    """Mask-aware mean of the chosen hidden-state layers (0 = embeddings), concatenated: (batch, len(layers)*H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden_states[0].dtype)
    denom = mask.sum(dim=1).clamp(min=1.0)
    return torch.cat([(hidden_states[i] * mask).sum(dim=1) / denom for i in layers], dim=-1)


def encode_ids(tokenizer: Tokenizer, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
    """Token ids with the e5 'query: ' prefix, long texts cut to max_tokens (keeping the closing </s>)."""
    encs = tokenizer.encode_batch([E5_QUERY_PREFIX + t[: max_tokens * _CHARS_PER_TOKEN_CAP] for t in texts])
    out = []
    for enc in encs:
        ids = list(enc.ids)
        if len(ids) > max_tokens:
            ids = ids[: max_tokens - 1] + ids[-1:]
        out.append(ids)
    return out


class TransformerEmotionClassifier:
    """Tokenizer + (possibly truncated) e5 encoder + trained head, run in length-sorted batches.

    `encoder` is either a module that returns `hidden_states` when called with output_hidden_states=True (a
    transformers BertModel, possibly dynamically quantised), pooled here over `layers`, or a `PooledEncoder`
    that already returns those pooled features (the ONNX Runtime graph); `head` maps pooled features to logits
    over EMOTION_LABELS.
    Texts longer than `max_tokens` tokens (prefix included) are truncated to their beginning. `preprocess`
    runs on every text first: the loader passes OpenCC t2s, because the head was trained on Simplified
    Chinese and Traditional input otherwise drifts (a clear complaint came out 'surprised').

    With a `lexical` scorer the result is softmax((1 - w) * log p_encoder + w * log p_lexical), w =
    `lexical_weight`: a weighted geometric mean of the two models' probabilities, renormalised.
    """

    def __init__(
        self,
        *,
        tokenizer: Tokenizer,
        encoder: torch.nn.Module | PooledEncoder,
        head: torch.nn.Module,
        layers: Sequence[int],
        version: str,
        max_tokens: int = 64,
        batch_size: int = 32,
        pad_id: int = 1,
        preprocess: Callable[[str], str] | None = None,
        lexical: LexicalScorer | None = None,
        lexical_weight: float = 0.0,
    ) -> None:
        if not 0.0 <= lexical_weight < 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1), got {lexical_weight}")
        self.version = version
        self._tokenizer = tokenizer
        self._encoder: PooledEncoder = (
            TorchPooledEncoder(encoder, layers) if isinstance(encoder, torch.nn.Module) else encoder
        )
        self._head = head.eval()
        self._layers = tuple(layers)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._pad_id = pad_id
        self._preprocess = preprocess
        self.lexical = lexical  # public: evaluation switches it off to score the encoder alone
        self.lexical_weight = lexical_weight

    @property
    def encoder(self) -> PooledEncoder:
        """The encoder pass (torch eager or the ONNX Runtime graph)."""
        return self._encoder

    @property
    def layers(self) -> tuple[int, ...]:
        """Hidden-state indices pooled for the head; the largest is the encoder depth actually run."""
        return self._layers

    def features(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled encoder features for non-empty texts, in input order: (len(texts), len(layers)*H)."""
        return self._features(self._prepare(texts))

    def _prepare(self, texts: Sequence[str]) -> list[str]:
        return [self._preprocess(t) for t in texts] if self._preprocess is not None else list(texts)

    def _features(self, texts: Sequence[str]) -> torch.Tensor:
        ids = encode_ids(self._tokenizer, texts, self.max_tokens)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = [ids[i] for i in order[start : start + self.batch_size]]
                width = max(len(b) for b in batch)
                input_ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, seq in enumerate(batch):
                    input_ids[row, : len(seq)] = torch.tensor(seq)
                    mask[row, : len(seq)] = 1
                chunks.append(self._encoder(input_ids, mask))
        if not chunks:
            return torch.empty((0, 0))
        pooled = torch.cat(chunks)
        result = torch.empty_like(pooled)
        result[torch.tensor(order)] = pooled
        return result

    def predict_proba(self, texts: Sequence[str]) -> torch.Tensor:
        """Probabilities over EMOTION_LABELS for non-empty texts: (len(texts), 6)."""
        return self._combine(*self._log_proba(texts, with_lexical=self.lexical_weight > 0.0))

    def _combine(self, encoder: torch.Tensor, lexical: torch.Tensor | None) -> torch.Tensor:
        if lexical is None:
            return torch.exp(encoder)
        w = self.lexical_weight
        return torch.softmax((1.0 - w) * encoder + w * lexical, dim=-1)

    def component_log_proba(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probabilities of the encoder + head and of the lexical scorer (None without one), apart."""
        return self._log_proba(texts, with_lexical=True)

    def _log_proba(
        self, texts: Sequence[str], *, with_lexical: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        prepared = self._prepare(texts)
        return self._log_proba_from(prepared, self._features(prepared), with_lexical=with_lexical)

    def _log_proba_from(
        self, prepared: Sequence[str], feats: torch.Tensor, *, with_lexical: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if feats.shape[0] == 0:
            return torch.empty((0, len(EMOTION_LABELS))), None
        with torch.inference_mode():
            encoder = torch.log_softmax(self._head(feats), dim=-1)
        if self.lexical is None or not with_lexical:
            return encoder, None
        return encoder, self.lexical.log_proba(prepared).to(encoder.dtype)

    def predict(self, texts: Sequence[str]) -> list[EmotionPrediction | None]:
        """One prediction per text, in order; None where the text is empty or whitespace."""
        keep = [i for i, t in enumerate(texts) if t.strip()]
        probs = self.predict_proba([texts[i].strip() for i in keep])
        return self._predictions(len(texts), keep, probs)

    def predict_with_features(
        self, texts: Sequence[str]
    ) -> tuple[list[EmotionPrediction | None], torch.Tensor]:
        """`predict`, plus the pooled features the head read: one encoder pass for every head that reads them.

        Features are (len(texts), len(layers)*H) in input order, a zero row where the text is empty; the
        predictions are exactly `predict`'s.
        """
        keep = [i for i, t in enumerate(texts) if t.strip()]
        prepared = self._prepare([texts[i].strip() for i in keep])
        feats = self._features(prepared)
        probs = self._combine(*self._log_proba_from(prepared, feats, with_lexical=self.lexical_weight > 0.0))
        width = feats.shape[1] if feats.shape[0] else self._encoder.width
        features = torch.zeros((len(texts), width), dtype=feats.dtype if feats.shape[0] else torch.float32)
        if keep:
            features[torch.tensor(keep)] = feats
        return self._predictions(len(texts), keep, probs), features

    @staticmethod
    def _predictions(n: int, keep: Sequence[int], probs: torch.Tensor) -> list[EmotionPrediction | None]:
        out: list[EmotionPrediction | None] = [None] * n
        for i, row in zip(keep, probs.tolist(), strict=True):
            best = max(range(len(row)), key=row.__getitem__)
            out[i] = EmotionPrediction(
                label=EMOTION_LABELS[best],
                confidence=float(row[best]),
                probs={label: float(p) for label, p in zip(EMOTION_LABELS, row, strict=True)},
            )
        return out


def _hidden_size(encoder: torch.nn.Module) -> int:
    config = getattr(encoder, "config", None)
    return int(getattr(config, "hidden_size", 0))


def negativity(prediction: EmotionPrediction) -> float:
    """P(angry) + P(sad) + P(anxious) of one utterance."""
    return sum(prediction.probs.get(label, 0.0) for label in NEGATIVE_EMOTIONS)


def summarize_conversation(
    utterances: Sequence[Utterance],
    predictions: Sequence[EmotionPrediction | None],
    *,
    speakers: frozenset[Speaker] = frozenset({"customer"}),
    escalation_delta: float = ESCALATION_DELTA,
    calming_delta: float = CALMING_DELTA,
    ends_angry_min_confidence: float = ENDS_ANGRY_MIN_CONFIDENCE,
) -> ConversationEmotion:
    """Customer emotion over a conversation: dominant negative label, peak, first-vs-last-third trajectory."""
    if len(utterances) != len(predictions):
        raise ValueError(f"{len(utterances)} utterances but {len(predictions)} predictions")
    scored = [
        (u, p)
        for u, p in zip(utterances, predictions, strict=True)
        if u.speaker in speakers and p is not None
    ]
    if not scored:
        return ConversationEmotion(None, None, None, None, None, None, "unknown", False)

    negative = [(u, p) for u, p in scored if p.label in NEGATIVE_EMOTIONS]
    dominant: EmotionLabel | None = None
    peak_label: EmotionLabel | None = None
    peak_conf: float | None = None
    peak_index: int | None = None
    if negative:
        totals: dict[str, float] = {}
        for _, p in negative:
            totals[p.label] = totals.get(p.label, 0.0) + p.confidence
        # Ties go to the label listed first in EMOTION_LABELS, so the result never depends on dict order.
        candidates: list[EmotionLabel] = [label for label in EMOTION_LABELS if label in totals]
        best: EmotionLabel = max(candidates, key=totals.__getitem__)
        dominant = best
        peak_u, peak_p = max(negative, key=lambda up: up[1].confidence)
        peak_label, peak_conf, peak_index = peak_p.label, peak_p.confidence, peak_u.index

    n = len(scored)
    third = max(1, math.ceil(n / 3))
    first = sum(negativity(p) for _, p in scored[:third]) / third
    last = sum(negativity(p) for _, p in scored[-third:]) / third
    trajectory: Trajectory = "unknown"
    if n >= MIN_TURNS_FOR_TRAJECTORY:
        if last - first >= escalation_delta:
            trajectory = "escalated"
        elif first - last >= calming_delta:
            trajectory = "calmed"
        else:
            trajectory = "stable"
    last_p = scored[-1][1]
    ends_angry = last_p.label == "angry" and last_p.confidence >= ends_angry_min_confidence
    return ConversationEmotion(
        dominant_negative=dominant,
        peak_label=peak_label,
        peak_confidence=peak_conf,
        peak_utterance_index=peak_index,
        first_third_negativity=first,
        last_third_negativity=last,
        trajectory=trajectory,
        ends_angry=ends_angry,
    )
