"""Abuse findings: speaker awareness, no double counting with the lexicon, scoring, agent care, wiring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from pipelines.abuse import (
    ABUSE_CATEGORY,
    ABUSE_RULE,
    AGENT_CARE_METRIC,
    AbuseClassifier,
    abuse_findings,
    needs_agent_care,
)
from pipelines.audit import AuditPipeline, AuditStages, build_stages
from pipelines.emotion import EmotionClassifier, TransformerEmotionClassifier
from pipelines.types import Conversation, EmotionPrediction, Finding, Severity, Speaker, Utterance
from tests.pipelines.test_emotion import build_tiny

LEXICONS = Path(__file__).resolve().parents[2] / "lexicons"


def utts(*turns: tuple[Speaker, str]) -> list[Utterance]:
    """Utterances numbered in order."""
    return [Utterance(i, speaker, text) for i, (speaker, text) in enumerate(turns)]


def lexicon_hit(index: int, category: str) -> Finding:
    """A sensitive-word finding in utterance `index`."""
    return Finding("sensitive_word", category, Severity.IMPORTANT, f"lexicon:{category}", "x", index, 0, 1)


class TestAbuseFindings:
    def test_speaker_sets_severity(self) -> None:
        turns = utts(("agent", "你是猪吗"), ("customer", "你脑子有病吧"), ("unknown", "滚"))
        found = abuse_findings(turns, [0.9, 0.8, 0.7], threshold=0.5, version="v1")
        assert [(f.utterance_index, f.severity) for f in found] == [
            (0, Severity.MAJOR),
            (1, Severity.IMPORTANT),
            (2, Severity.IMPORTANT),
        ]
        first = found[0]
        assert (first.kind, first.category, first.rule, first.term) == (
            "abuse",
            ABUSE_CATEGORY,
            ABUSE_RULE,
            None,
        )
        assert (first.start, first.end, first.detail) == (0, 4, "p=0.900 v1")

    def test_threshold_and_empty(self) -> None:
        turns = utts(("agent", "a"), ("agent", "b"), ("agent", ""))
        found = abuse_findings(turns, [0.5, 0.49, None], threshold=0.5)
        assert [f.utterance_index for f in found] == [0]
        assert found[0].detail == "p=0.500"

    def test_lexicon_abuse_in_same_utterance_is_not_counted_twice(self) -> None:
        turns = utts(("agent", "傻逼，你是猪吗"), ("agent", "你是猪吗"), ("customer", "我要投诉你是猪吗"))
        lexicon = [lexicon_hit(0, "辱骂"), lexicon_hit(2, "投诉升级")]
        found = abuse_findings(turns, [0.99, 0.99, 0.99], threshold=0.5, lexicon_findings=lexicon)
        # Utterance 0 already has the lexicon's 辱骂; a 投诉升级 hit (utterance 2) does not hide the insult.
        assert [f.utterance_index for f in found] == [1, 2]

    def test_length_mismatch_raises(self) -> None:
        with pytest.raises(ValueError, match="2 utterances but 1 probabilities"):
            abuse_findings(utts(("agent", "a"), ("agent", "b")), [0.1], threshold=0.5)


class TestAgentCare:
    def test_customer_abuse_by_model_or_lexicon(self) -> None:
        turns = utts(("customer", "x"), ("agent", "y"))
        model = abuse_findings(turns, [0.9, None], threshold=0.5)
        assert needs_agent_care(turns, model) is True
        assert needs_agent_care(turns, [lexicon_hit(0, "辱骂")]) is True

    def test_agent_abuse_or_other_categories_are_not_agent_care(self) -> None:
        turns = utts(("customer", "x"), ("agent", "y"))
        agent = abuse_findings(turns, [None, 0.9], threshold=0.5)
        assert needs_agent_care(turns, agent) is False
        assert needs_agent_care(turns, [lexicon_hit(0, "投诉升级"), lexicon_hit(1, "辱骂")]) is False


class FixedAbuse:
    """A fake abuse scorer (wiring only): P(abuse) looked up by text; checks it got one feature row per text."""

    version = "fixed-abuse"
    threshold = 0.5

    def __init__(self, probs: dict[str, float]) -> None:
        self.probs = probs
        self.calls: list[int] = []

    def proba(self, texts: Sequence[str], features: torch.Tensor) -> list[float | None]:
        assert features.shape[0] == len(texts)
        self.calls.append(len(texts))
        return [self.probs.get(t, 0.0) if t.strip() else None for t in texts]


@pytest.fixture(scope="module")
def stages() -> AuditStages:
    """The real lexicon-driven stages."""
    return build_stages(LEXICONS)


@pytest.fixture(scope="module")
def tiny() -> TransformerEmotionClassifier:
    """A tiny random encoder with the real tokenizer: features of the right shape, labels meaningless."""
    return build_tiny()


AGENT_INSULT = "这都看不懂，你是猪吗"
CUSTOMER_INSULT = "你是猪吗，听不懂人话"
POLITE = [
    ("customer", "你好，快递三天还没到"),
    ("agent", "您好，很高兴为您服务，我帮您查一下"),
]
CLOSING: tuple[Speaker, str] = ("agent", "请问还有什么可以帮您，祝您生活愉快")


def conversation(*turns: tuple[Speaker, str]) -> Conversation:
    """A chat of the given turns."""
    return Conversation("chat", tuple(utts(*turns)))


class TestPipeline:
    def test_agent_abuse_is_major_scored_and_flagged(
        self, stages: AuditStages, tiny: TransformerEmotionClassifier
    ) -> None:
        abuse = FixedAbuse({AGENT_INSULT: 0.93})
        pipeline = AuditPipeline(stages, emotion=tiny, abuse=abuse)
        result = pipeline.run(conversation(*POLITE, ("agent", AGENT_INSULT), CLOSING))  # type: ignore[arg-type]
        found = [f for f in result.findings if f.kind == "abuse"]
        assert [(f.utterance_index, f.severity, f.detail) for f in found] == [
            (2, Severity.MAJOR, "p=0.930 fixed-abuse")
        ]
        assert result.severity == Severity.MAJOR
        assert result.flagged is True
        lines = [i for i in result.score.items if i.rule == ABUSE_RULE]
        assert [(i.dimension, i.points) for i in lines] == [("sensitive", -15.0)]
        assert result.metrics[AGENT_CARE_METRIC] == 0
        assert abuse.calls == [4]  # one call over the conversation's utterances

    def test_customer_abuse_is_recorded_without_costing_the_agent(
        self, stages: AuditStages, tiny: TransformerEmotionClassifier
    ) -> None:
        turns = (*POLITE, ("customer", CUSTOMER_INSULT), CLOSING)
        plain = AuditPipeline(stages, emotion=tiny).run(conversation(*turns))  # type: ignore[arg-type]
        result = AuditPipeline(stages, emotion=tiny, abuse=FixedAbuse({CUSTOMER_INSULT: 0.88})).run(
            conversation(*turns)  # type: ignore[arg-type]
        )
        found = [f for f in result.findings if f.kind == "abuse"]
        assert [(f.utterance_index, f.severity) for f in found] == [(2, Severity.IMPORTANT)]
        assert result.score == plain.score  # not a point lost for being insulted
        assert result.flagged is True  # …but the team lead sees it
        assert (result.metrics[AGENT_CARE_METRIC], plain.metrics[AGENT_CARE_METRIC]) == (1, 0)

    def test_lexicon_abuse_is_not_double_counted(
        self, stages: AuditStages, tiny: TransformerEmotionClassifier
    ) -> None:
        text = "你这个傻逼，你是猪吗"
        result = AuditPipeline(stages, emotion=tiny, abuse=FixedAbuse({text: 0.99})).run(
            conversation(*POLITE, ("agent", text), CLOSING)  # type: ignore[arg-type]
        )
        kinds = [(f.kind, f.category) for f in result.findings if f.utterance_index == 2]
        assert ("sensitive_word", "辱骂") in kinds
        assert not [k for k in kinds if k[0] == "abuse"]

    def test_emotion_unchanged_by_the_abuse_head(
        self, stages: AuditStages, tiny: TransformerEmotionClassifier
    ) -> None:
        convo = conversation(*POLITE, ("customer", ""), ("agent", AGENT_INSULT))  # type: ignore[arg-type]
        with_abuse = AuditPipeline(stages, emotion=tiny, abuse=FixedAbuse({})).run(convo)
        without = AuditPipeline(stages, emotion=tiny).run(convo)
        assert with_abuse.emotions == without.emotions
        assert with_abuse.emotions[2] is None

    def test_abuse_needs_the_feature_sharing_emotion_classifier(self, stages: AuditStages) -> None:
        class PlainEmotion:
            version = "plain"

            def predict(self, texts: Sequence[str]) -> list[EmotionPrediction | None]:
                return [None] * len(texts)

        plain: EmotionClassifier = PlainEmotion()
        with pytest.raises(ValueError, match="emotion encoder's features"):
            AuditPipeline(stages, emotion=plain, abuse=FixedAbuse({}))
        with pytest.raises(ValueError, match="emotion encoder's features"):
            AuditPipeline(stages, abuse=FixedAbuse({}))


class TestSharedForwardPass:
    def test_predictions_equal_predict_and_features_align(self, tiny: TransformerEmotionClassifier) -> None:
        texts = ["你好", "", "这是一句比较长的话，用来测试", "  "]
        preds, feats = tiny.predict_with_features(texts)
        assert preds == tiny.predict(texts)
        assert feats.shape == (4, 16)
        assert torch.equal(feats[1], torch.zeros(16))
        assert torch.equal(feats[3], torch.zeros(16))
        assert torch.allclose(feats[2], tiny.features([texts[2]])[0], atol=1e-5)

    def test_empty_input(self, tiny: TransformerEmotionClassifier) -> None:
        preds, feats = tiny.predict_with_features([])
        assert (preds, tuple(feats.shape)) == ([], (0, 16))


class TestAbuseClassifier:
    def test_linear_head_and_lexical_half_combine_as_geometric_mean(self) -> None:
        head = torch.nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            head.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))

        class Lexical:
            def log_proba(self, texts: Sequence[str]) -> torch.Tensor:
                return torch.log(torch.tensor([[0.5, 0.5]] * len(texts)))

        clf = AbuseClassifier(head=head, threshold=0.5, version="t", lexical=Lexical(), lexical_weight=0.5)
        feats = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
        probs = clf.proba(["a", "", "b"], feats)
        assert probs[1] is None
        assert probs[0] == pytest.approx(torch.sigmoid(torch.tensor(1.0)).item(), abs=1e-6)
        assert probs[2] == pytest.approx(0.5)

    @pytest.mark.parametrize(("threshold", "weight"), [(0.0, 0.0), (1.0, 0.0), (0.5, 1.0), (0.5, -0.1)])
    def test_bad_settings_raise(self, threshold: float, weight: float) -> None:
        with pytest.raises(ValueError, match="must be in"):
            AbuseClassifier(head=torch.nn.Identity(), threshold=threshold, version="t", lexical_weight=weight)

    def test_feature_rows_must_match_texts(self) -> None:
        clf = AbuseClassifier(head=torch.nn.Identity(), threshold=0.5, version="t")
        with pytest.raises(ValueError, match="2 texts but 1 feature rows"):
            clf.proba(["a", "b"], torch.zeros((1, 2)))
