"""Learned abuse detection: a small head over the emotion encoder's pooled features, turned into findings.

The abuse head reads the features the emotion classifier already computed for the same utterances
(`FeatureEmotionClassifier.predict_with_features`), so the detector costs a linear layer and a character
n-gram lookup, not a second encoder pass. Findings are speaker-aware: an agent abusing a customer is 重大
(and scored, rules.yaml `agent_abuse_model`); a customer abusing an agent is recorded as 重要 without a
deduction (it flags the conversation so the team lead sees it: agent care). An utterance the lexicon already
flagged as 辱骂 gets no model finding: the same insult is not counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch

from pipelines.emotion import LexicalScorer
from pipelines.types import Finding, FindingKind, Severity, Speaker, Utterance

ABUSE_KIND: FindingKind = "abuse"
ABUSE_CATEGORY = "辱骂(模型)"
ABUSE_RULE = "model:abuse"
LEXICON_ABUSE_CATEGORY = "辱骂"
SEVERITY_BY_SPEAKER: dict[Speaker, Severity] = {
    "agent": Severity.MAJOR,
    "customer": Severity.IMPORTANT,
    "unknown": Severity.IMPORTANT,
}
AGENT_CARE_METRIC = "agent_care"


class AbuseScorer(Protocol):
    """What the orchestrator needs: a version, a decision threshold and probabilities from shared features."""

    version: str
    threshold: float

    def proba(self, texts: Sequence[str], features: torch.Tensor) -> list[float | None]:
        """P(abuse) per text, from its pooled encoder features; None where the text is empty."""
        ...


class AbuseClassifier:
    """Trained head (2 logits: safe, abuse) over pooled features, optionally combined with a char n-gram half.

    P = softmax((1 - w) * log p_head + w * log p_ngram)[abuse], w = `lexical_weight`, as the emotion model
    combines its halves. `preprocess` (OpenCC t2s) runs on the text the n-gram half reads; the features come
    from the emotion classifier, which already preprocessed its input the same way.
    """

    def __init__(
        self,
        *,
        head: torch.nn.Module,
        threshold: float,
        version: str,
        lexical: LexicalScorer | None = None,
        lexical_weight: float = 0.0,
        preprocess: Callable[[str], str] | None = None,
    ) -> None:
        if not 0.0 <= lexical_weight < 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1), got {lexical_weight}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self._head = head.eval()
        self.threshold = threshold
        self.version = version
        self.lexical = lexical
        self.lexical_weight = lexical_weight
        self._preprocess = preprocess

    def proba(self, texts: Sequence[str], features: torch.Tensor) -> list[float | None]:
        """P(abuse) per text, from its pooled encoder features; None where the text is empty."""
        if features.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {features.shape[0]} feature rows")
        keep = [i for i, t in enumerate(texts) if t.strip()]
        out: list[float | None] = [None] * len(texts)
        if not keep:
            return out
        with torch.inference_mode():
            log_p = torch.log_softmax(self._head(features[torch.tensor(keep)].float()), dim=-1)
        if self.lexical is not None and self.lexical_weight > 0.0:
            stripped = [texts[i].strip() for i in keep]
            prepared = [self._preprocess(t) for t in stripped] if self._preprocess else stripped
            w = self.lexical_weight
            log_p = (1.0 - w) * log_p + w * self.lexical.log_proba(prepared).to(log_p.dtype)
        probs = torch.softmax(log_p, dim=-1)[:, 1].tolist()
        for i, p in zip(keep, probs, strict=True):
            out[i] = float(p)
        return out


def abuse_findings(
    utterances: Sequence[Utterance],
    probabilities: Sequence[float | None],
    *,
    threshold: float,
    lexicon_findings: Sequence[Finding] = (),
    version: str = "",
) -> list[Finding]:
    """One `abuse` finding per utterance at or above `threshold`, unless the lexicon found 辱骂 there already.

    `detail` carries the probability and the model version ("p=0.934 e5s-abuse-…"); the span is the utterance.
    """
    if len(utterances) != len(probabilities):
        raise ValueError(f"{len(utterances)} utterances but {len(probabilities)} probabilities")
    lexicon_abuse = {
        f.utterance_index
        for f in lexicon_findings
        if f.kind == "sensitive_word" and f.category == LEXICON_ABUSE_CATEGORY
    }
    return [
        Finding(
            kind=ABUSE_KIND,
            category=ABUSE_CATEGORY,
            severity=SEVERITY_BY_SPEAKER[utt.speaker],
            rule=ABUSE_RULE,
            utterance_index=utt.index,
            start=0,
            end=len(utt.text),
            detail=f"p={p:.3f} {version}".strip(),
        )
        for utt, p in zip(utterances, probabilities, strict=True)
        if p is not None and p >= threshold and utt.index not in lexicon_abuse
    ]


def needs_agent_care(utterances: Sequence[Utterance], findings: Sequence[Finding]) -> bool:
    """True when the customer abused the agent (model finding or lexicon 辱骂): the team lead should check in."""
    speakers = {u.index: u.speaker for u in utterances}
    return any(
        speakers.get(f.utterance_index) == "customer"
        for f in findings
        if f.utterance_index is not None
        and (f.kind == ABUSE_KIND or (f.kind == "sensitive_word" and f.category == LEXICON_ABUSE_CATEGORY))
    )
