"""Conversation-level dissatisfaction: P(the customer leaves dissatisfied) and the customer turns driving it.

One utterance's emotion says little about how a conversation ended: a customer angry in the first turn and
thanking the agent in the last one is not a call-back case, a calm customer whose problem was deflected
("请私信", "请拨打热线") often is. The model (models/dissatisfaction, trained on STC-3's satisfaction ratings)
reads the whole conversation: the emotion model's per-utterance probabilities and pooled encoder features of
the customer turns aggregated (max / mean / last / trend), turn counts, agent apology / resolution /
deflection cues, customer thanks and complaint cues, and character n-grams of the customer's text, combined
by one logistic regression. It reuses the emotion encoder's pass: no second model runs over the text.

Driving turns are found by leaving each customer utterance out and measuring how much the probability drops:
model-agnostic, and it names the turns a supervisor should read first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipelines.types import EMOTION_LABELS, Dissatisfaction, DrivingTurn, EmotionPrediction, Utterance

NEGATIVE = ("angry", "sad", "anxious")
MAX_DRIVING_TURNS = 3
# A turn whose removal lowers the probability by less than this does not "drive" it.
MIN_TURN_WEIGHT = 0.01


@dataclass(frozen=True, slots=True)
class CueGroups:
    """Phrase groups the model counts (stored with the weights: changing one means retraining)."""

    agent: tuple[tuple[str, tuple[str, ...]], ...]
    customer: tuple[tuple[str, tuple[str, ...]], ...]

    def names(self) -> list[str]:
        """Feature names the groups produce, in vector order."""
        out = []
        for name, _ in self.agent:
            out += [f"agent_{name}_share", f"agent_{name}_last"]
        for name, _ in self.customer:
            out += [f"customer_{name}_share", f"customer_{name}_last"]
        return out


def dense_names(cues: CueGroups) -> list[str]:
    """Names of the dense (hand-made) features, in vector order."""
    names = [
        "n_customer",
        "n_agent",
        "customer_chars",
        "agent_chars",
        "last_is_customer",
        "questions",
        "exclaims",
    ]
    for label in (*EMOTION_LABELS, "negative"):
        names += [f"{label}_max", f"{label}_mean", f"{label}_last"]
    names += ["negative_first", "negative_trend", "negative_share_over_half"]
    return names + cues.names()


def _share(texts: Sequence[str], phrases: tuple[str, ...]) -> tuple[float, float]:
    hits = [any(p in t for p in phrases) for t in texts]
    if not hits:
        return 0.0, 0.0
    return sum(hits) / len(hits), float(hits[-1])


def dense_features(
    speakers: Sequence[str], texts: Sequence[str], probs: np.ndarray, cues: CueGroups
) -> np.ndarray:
    """Hand-made features of one conversation; `probs` is (n, 6) over EMOTION_LABELS, a row per utterance."""
    cust = [i for i, s in enumerate(speakers) if s == "customer"]
    agent = [i for i, s in enumerate(speakers) if s == "agent"]
    ctexts = [texts[i] for i in cust]
    atexts = [texts[i] for i in agent]
    out = [
        np.log1p(len(cust)),
        np.log1p(len(agent)),
        np.log1p(sum(map(len, ctexts))),
        np.log1p(sum(map(len, atexts))),
        float(bool(speakers) and speakers[-1] == "customer"),
        float(sum(t.count("?") + t.count("？") for t in ctexts)) / max(1, len(cust)),
        float(sum(t.count("!") + t.count("！") for t in ctexts)) / max(1, len(cust)),
    ]
    p = probs[cust] if cust else np.zeros((1, len(EMOTION_LABELS)), dtype=np.float32)
    neg_idx = [EMOTION_LABELS.index(label) for label in NEGATIVE]
    cols = np.concatenate([p, p[:, neg_idx].sum(axis=1, keepdims=True)], axis=1)
    for j in range(cols.shape[1]):
        out += [float(cols[:, j].max()), float(cols[:, j].mean()), float(cols[-1, j])]
    neg = cols[:, -1]
    third = max(1, -(-len(neg) // 3))
    out += [float(neg[0]), float(neg[-third:].mean() - neg[:third].mean()), float((neg > 0.5).mean())]
    for _, phrases in cues.agent:
        out += _share(atexts, phrases)
    for _, phrases in cues.customer:
        out += _share(ctexts, phrases)
    return np.asarray(out, dtype=np.float64)


def pooled_features(speakers: Sequence[str], pooled: np.ndarray) -> np.ndarray:
    """Mean of the customer utterances' pooled encoder features, then the last one's: (2 * D,)."""
    cust = [i for i, s in enumerate(speakers) if s == "customer"]
    if not cust:
        return np.zeros(2 * pooled.shape[1], dtype=np.float64)
    rows = pooled[cust].astype(np.float64)
    return np.concatenate([rows.mean(axis=0), rows[-1]])


def customer_text(speakers: Sequence[str], texts: Sequence[str]) -> str:
    """The customer's utterances joined by newlines: what the character n-grams read."""
    return "\n".join(t for s, t in zip(speakers, texts, strict=True) if s == "customer")


def probs_matrix(predictions: Sequence[EmotionPrediction | None]) -> np.ndarray:
    """(n, 6) probabilities over EMOTION_LABELS; a zero row where an utterance had no prediction."""
    out = np.zeros((len(predictions), len(EMOTION_LABELS)), dtype=np.float32)
    for i, pred in enumerate(predictions):
        if pred is not None:
            out[i] = [pred.probs.get(label, 0.0) for label in EMOTION_LABELS]
    return out


class DissatisfactionModel:
    """Logistic regression over [standardised dense features, standardised pooled features, n-gram TF-IDF].

    `vectorizer` is a fitted scikit-learn TfidfVectorizer (rebuilt by the loader from the stored vocabulary
    and idf); `threshold` is the rules' default flag level the model card reports precision and recall at.
    """

    def __init__(
        self,
        *,
        cues: CueGroups,
        dense_mean: np.ndarray,
        dense_scale: np.ndarray,
        pooled_mean: np.ndarray,
        pooled_scale: np.ndarray,
        vectorizer: object,
        coef: np.ndarray,
        intercept: float,
        threshold: float,
        version: str,
        max_chars: int = 4000,
    ) -> None:
        n_dense, n_pooled = dense_mean.shape[0], pooled_mean.shape[0]
        if n_dense != len(dense_names(cues)):
            raise ValueError(f"{n_dense} dense statistics but {len(dense_names(cues))} dense features")
        self.cues = cues
        self._dense = (dense_mean, np.where(dense_scale > 0, dense_scale, 1.0))
        self._pooled = (pooled_mean, np.where(pooled_scale > 0, pooled_scale, 1.0))
        self._vectorizer = vectorizer
        self._coef_dense = coef[:n_dense]
        self._coef_pooled = coef[n_dense : n_dense + n_pooled]
        self._coef_ngram = coef[n_dense + n_pooled :]
        self._intercept = intercept
        self.threshold = threshold
        self.version = version
        self.max_chars = max_chars
        self.pooled_dim = n_pooled // 2

    def _logits(
        self,
        speakers: Sequence[Sequence[str]],
        texts: Sequence[Sequence[str]],
        probs: Sequence[np.ndarray],
        pooled: Sequence[np.ndarray],
    ) -> np.ndarray:
        dense = np.stack(
            [dense_features(s, t, p, self.cues) for s, t, p in zip(speakers, texts, probs, strict=True)]
        )
        pool = np.stack([pooled_features(s, f) for s, f in zip(speakers, pooled, strict=True)])
        grams = self._vectorizer.transform(  # type: ignore[attr-defined]
            [customer_text(s, t)[: self.max_chars] for s, t in zip(speakers, texts, strict=True)]
        )
        logits: np.ndarray = (
            ((dense - self._dense[0]) / self._dense[1]) @ self._coef_dense
            + ((pool - self._pooled[0]) / self._pooled[1]) @ self._coef_pooled
            + np.asarray(grams @ self._coef_ngram).ravel()
            + self._intercept
        )
        return logits

    def probability_many(
        self,
        speakers: Sequence[Sequence[str]],
        texts: Sequence[Sequence[str]],
        probs: Sequence[np.ndarray],
        pooled: Sequence[np.ndarray],
    ) -> np.ndarray:
        """P(dissatisfied) for several conversations given as parallel per-utterance arrays (training, eval)."""
        out: np.ndarray = 1.0 / (1.0 + np.exp(-self._logits(speakers, texts, probs, pooled)))
        return out

    def score(
        self,
        utterances: Sequence[Utterance],
        predictions: Sequence[EmotionPrediction | None],
        pooled: np.ndarray,
    ) -> Dissatisfaction | None:
        """The conversation's dissatisfaction and driving turns; None when the customer never spoke."""
        keep = [i for i, u in enumerate(utterances) if u.text.strip() and predictions[i] is not None]
        speakers = [utterances[i].speaker for i in keep]
        if "customer" not in speakers:
            return None
        texts = [utterances[i].text for i in keep]
        probs = probs_matrix([predictions[i] for i in keep])
        rows = pooled[keep]
        cust = [j for j, s in enumerate(speakers) if s == "customer"]
        # Variant 0 is the whole conversation; variant k drops the k-th customer utterance.
        variants = [list(range(len(keep)))] + [[j for j in range(len(keep)) if j != c] for c in cust]
        p = self.probability_many(
            [[speakers[j] for j in v] for v in variants],
            [[texts[j] for j in v] for v in variants],
            [probs[v] for v in variants],
            [rows[v] for v in variants],
        )
        drops = sorted(
            ((float(p[0] - p[k + 1]), utterances[keep[c]].index) for k, c in enumerate(cust)), reverse=True
        )
        turns = tuple(
            DrivingTurn(index=idx, weight=round(w, 4))
            for w, idx in drops[:MAX_DRIVING_TURNS]
            if w >= MIN_TURN_WEIGHT
        )
        return Dissatisfaction(probability=float(p[0]), turns=turns, version=self.version)
