"""The orchestrator: runs one conversation through every stage, in the order the stages depend on."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from pipelines.abuse import AGENT_CARE_METRIC, AbuseScorer, abuse_findings, needs_agent_care
from pipelines.dissatisfaction import DissatisfactionModel
from pipelines.emotion import EmotionClassifier, FeatureEmotionClassifier, summarize_conversation
from pipelines.emotion_calibration import LengthTemperature
from pipelines.keywords import KeywordExtractor
from pipelines.pii import PiiMasker, pii_findings
from pipelines.rules import RuleSet, ServiceNormChecker, load_rules
from pipelines.scoring import Scorer
from pipelines.sensitive import SensitiveWordMatcher, load_sensitive_lexicon
from pipelines.sensitive_lexicon import SensitiveLexicon
from pipelines.types import AuditResult, Conversation, Dissatisfaction, EmotionPrediction, Finding, Utterance


@dataclass(frozen=True, slots=True)
class AuditStages:
    """The text stages built from one lexicon directory; swapped as a whole on lexicon reload."""

    masker: PiiMasker
    matcher: SensitiveWordMatcher
    keywords: KeywordExtractor
    norms: ServiceNormChecker
    scorer: Scorer
    rules: RuleSet

    @property
    def version(self) -> str:
        """The version every finding records: sensitive-word lexicons and rules.yaml together."""
        both = f"{self.matcher.version}:{self.rules.version}".encode()
        return hashlib.sha256(both).hexdigest()[:12]


def build_stages(lexicon_dir: Path, *, keyword_extractor: KeywordExtractor | None = None) -> AuditStages:
    """Load and compile every lexicon-driven stage from `lexicon_dir` (jieba may be reused: it is slow to load)."""
    rules = load_rules(lexicon_dir / "rules.yaml")
    keywords = keyword_extractor or KeywordExtractor(
        userdict=lexicon_dir / "jieba_userdict.txt", stopwords=lexicon_dir / "stopwords.txt"
    )
    return AuditStages(
        masker=PiiMasker(),
        matcher=SensitiveWordMatcher(load_sensitive_lexicon(lexicon_dir)),
        keywords=keywords,
        norms=ServiceNormChecker(rules),
        scorer=Scorer(rules),
        rules=rules,
    )


def with_rules(stages: AuditStages, rules: RuleSet) -> AuditStages:
    """The same stages with another rule set (a stored rules version, or a candidate under test)."""
    return replace(stages, norms=ServiceNormChecker(rules), scorer=Scorer(rules), rules=rules)


def with_lexicon(stages: AuditStages, lexicon: SensitiveLexicon) -> AuditStages:
    """The same stages with another sensitive-word lexicon (candidate entries under test)."""
    return replace(stages, matcher=SensitiveWordMatcher(lexicon))


def mask_conversation(masker: PiiMasker, conversation: Conversation) -> tuple[Conversation, list[Finding]]:
    """Mask personal data in every utterance; the masked conversation is the only one stored or analysed."""
    masked: list[Utterance] = []
    findings: list[Finding] = []
    for utt in conversation.utterances:
        result = masker.mask(utt.text)
        masked.append(Utterance(utt.index, utt.speaker, result.text, utt.start_ms, utt.end_ms))
        findings.extend(pii_findings(utt.index, result))
    return Conversation(conversation.channel, tuple(masked)), findings


class AuditPipeline:
    """Conversation in, AuditResult out; the CLI, the API, the worker and the benchmarks share it."""

    def __init__(
        self,
        stages: AuditStages,
        *,
        emotion: EmotionClassifier | None = None,
        abuse: AbuseScorer | None = None,
        dissatisfaction: DissatisfactionModel | None = None,
        calibration: LengthTemperature | None = None,
    ) -> None:
        if (abuse is not None or dissatisfaction is not None) and not isinstance(
            emotion, FeatureEmotionClassifier
        ):
            raise ValueError("the abuse and dissatisfaction models read the emotion encoder's features")
        self.stages = stages
        self.emotion = emotion
        self.abuse = abuse
        self.dissatisfaction = dissatisfaction
        self.calibration = calibration

    def run(self, conversation: Conversation) -> AuditResult:
        """Audit one conversation whose text is not yet masked."""
        masked, pii = mask_conversation(self.stages.masker, conversation)
        return self.run_masked(masked, pii_findings=pii)

    def run_masked(
        self, conversation: Conversation, *, pii_findings: list[Finding] | None = None
    ) -> AuditResult:
        """Audit an already-masked conversation (re-analysis of stored text)."""
        return self.run_masked_many([(conversation, pii_findings)])[0]

    def run_masked_many(
        self, items: Sequence[tuple[Conversation, list[Finding] | None]]
    ) -> list[AuditResult]:
        """Audit several masked conversations (each with its PII findings), one result per item, in order.

        The emotion model sees every utterance of every conversation in one call: a chat holds about a
        dozen turns, so per-conversation calls ran the encoder in small, half-empty batches.
        """
        emotions, abuse, dissat = self._models([conv.utterances for conv, _ in items])
        return [
            self._audit(conv, pii_findings=pii, emotions=emos, abuse=probs, dissatisfaction=d)
            for (conv, pii), emos, probs, d in zip(items, emotions, abuse, dissat, strict=True)
        ]

    def run_masked_variants(
        self,
        items: Sequence[tuple[Conversation, list[Finding] | None]],
        variants: Sequence[AuditStages],
    ) -> list[list[AuditResult]]:
        """Audit the same masked conversations under several stage sets (current and candidate rules).

        The models see each utterance once: only the lexicon and rule stages differ between variants.
        One list of results per variant, in the order of `items`.
        """
        emotions, abuse, dissat = self._models([conv.utterances for conv, _ in items])
        return [
            [
                self._audit(
                    conv, pii_findings=pii, emotions=emos, abuse=probs, dissatisfaction=d, stages=stages
                )
                for (conv, pii), emos, probs, d in zip(items, emotions, abuse, dissat, strict=True)
            ]
            for stages in variants
        ]

    def _models(
        self, conversations: Sequence[tuple[Utterance, ...]]
    ) -> tuple[
        list[list[EmotionPrediction | None] | None],
        list[list[float | None] | None],
        list[Dissatisfaction | None],
    ]:
        """Emotion per utterance and, with the heads that read its features, P(abuse) per utterance and the
        conversation's dissatisfaction, all from the same encoder pass."""
        none: list[None] = [None] * len(conversations)
        if self.emotion is None:
            return list(none), list(none), list(none)
        texts = [u.text for utts in conversations for u in utts]
        flat_abuse: list[float | None] | None = None
        pooled: np.ndarray | None = None
        needs_features = self.abuse is not None or self.dissatisfaction is not None
        if needs_features and isinstance(self.emotion, FeatureEmotionClassifier):
            flat, features = self.emotion.predict_with_features(texts)
            if self.abuse is not None:
                flat_abuse = self.abuse.proba(texts, features)
            pooled = features.float().numpy()
        else:
            flat = self.emotion.predict(texts)
        emotions: list[list[EmotionPrediction | None] | None] = []
        abuse: list[list[float | None] | None] = []
        dissat: list[Dissatisfaction | None] = []
        start = 0
        for utts in conversations:
            preds = list(flat[start : start + len(utts)])
            abuse.append(list(flat_abuse[start : start + len(utts)]) if flat_abuse is not None else None)
            dissat.append(
                self.dissatisfaction.score(utts, preds, pooled[start : start + len(utts)])
                if self.dissatisfaction is not None and pooled is not None
                else None
            )
            # After the dissatisfaction model, which was trained on the model's own probabilities: every
            # stage that reads a confidence from here on (rules, summary, storage) reads the calibrated one.
            if self.calibration is not None:
                preds = self.calibration.calibrate([u.text for u in utts], preds)
            emotions.append(preds)
            start += len(utts)
        return emotions, abuse, dissat

    def _audit(
        self,
        conversation: Conversation,
        *,
        pii_findings: list[Finding] | None,
        emotions: list[EmotionPrediction | None] | None,
        abuse: list[float | None] | None = None,
        dissatisfaction: Dissatisfaction | None = None,
        stages: AuditStages | None = None,
    ) -> AuditResult:
        s = stages or self.stages
        utts = conversation.utterances
        conv_emotion = summarize_conversation(utts, emotions) if emotions and utts else None

        findings: list[Finding] = list(pii_findings or [])
        lexicon_findings = s.matcher.findings(utts)
        findings.extend(lexicon_findings)
        if abuse is not None and self.abuse is not None:
            findings.extend(
                abuse_findings(
                    utts,
                    abuse,
                    threshold=self.abuse.threshold,
                    lexicon_findings=lexicon_findings,
                    version=self.abuse.version,
                )
            )
        norm_findings, metrics = s.norms.check(conversation, emotions=emotions)
        findings.extend(norm_findings)
        metrics = {**metrics, AGENT_CARE_METRIC: int(needs_agent_care(utts, findings))}
        # Order by position in the conversation so a reviewer reads findings top to bottom.
        findings.sort(
            key=lambda f: (f.utterance_index if f.utterance_index is not None else -1, f.start or 0)
        )

        score = s.scorer.score(findings, conversation_emotion=conv_emotion, utterances=utts)
        severity = s.scorer.severity(findings)
        return AuditResult(
            utterances=utts,
            findings=tuple(findings),
            keywords=tuple(s.keywords.for_conversation(utts)),
            score=score,
            severity=severity,
            flagged=s.scorer.flagged(severity, score)
            or s.rules.flags_dissatisfaction(dissatisfaction.probability if dissatisfaction else None),
            metrics=metrics,
            emotions=tuple(emotions) if emotions is not None else (None,) * len(utts),
            conversation_emotion=conv_emotion,
            lexicon_version=s.version,
            rules_version=s.rules.version,
            dissatisfaction=dissatisfaction,
        )
