"""The real abuse model (served emotion encoder + committed abuse head) on clear insults and complaints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.abuse.loader import ARTIFACT_DIR, abuse_version, base_model_sha256, load_abuse_classifier
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR, ModelAssetError, materialize
from pipelines.abuse import AbuseClassifier
from pipelines.emotion import TransformerEmotionClassifier

# Insults aimed at a person, none of them in the training data (cs_examples.tsv or COLD), most without any
# word of the 辱骂 lexicon: the cases the lexicon cannot see.
INSULTS = (
    "你是不是没长眼睛，字都不会看",
    "跟你这种蠢人说话真累",
    "你这个没脑子的东西",
    "信不信我找人弄你",
    "你怎么笨得跟头猪一样",
    "你个死骗子，不得好死",
)
# Complaints, questions and firm refusals: angry or blunt, but aimed at a service, not at a person.
NOT_ABUSE = (
    "你们这服务太差了",
    "垃圾快递三天还没到",
    "我要投诉",
    "再不退款我就去12315",
    "你们这物流也太慢了吧，气死人了",
    "质量太差了，用了两天就坏了",
    "我要退货，这东西根本不能用",
    "这个订单不能取消",
    "请问我的快递到哪里了",
    "不好意思，这个我们处理不了",
    "好的，谢谢",
    "你们到底还管不管啊",
)


@pytest.fixture(scope="module")
def emotion() -> TransformerEmotionClassifier:
    """The emotion classifier exactly as served (its encoder pass feeds the abuse head)."""
    return load_emotion_classifier(materialize(DEFAULT_CACHE_DIR), num_threads=2, verify_checksum=False)


@pytest.fixture(scope="module")
def abuse(emotion: TransformerEmotionClassifier) -> AbuseClassifier:
    """The committed abuse head."""
    return load_abuse_classifier(
        emotion_layers=emotion.layers, base_model_sha256=base_model_sha256(DEFAULT_CACHE_DIR)
    )


def proba(
    emotion: TransformerEmotionClassifier, abuse: AbuseClassifier, texts: tuple[str, ...]
) -> list[float]:
    """P(abuse) through the shared encoder pass."""
    _, features = emotion.predict_with_features(texts)
    out = abuse.proba(texts, features)
    assert all(p is not None for p in out)
    return [p for p in out if p is not None]


class TestClearCases:
    def test_insults_are_abuse(self, emotion: TransformerEmotionClassifier, abuse: AbuseClassifier) -> None:
        probs = proba(emotion, abuse, INSULTS)
        missed = [(t, round(p, 2)) for t, p in zip(INSULTS, probs, strict=True) if p < abuse.threshold]
        assert missed == []

    def test_complaints_are_not_abuse(
        self, emotion: TransformerEmotionClassifier, abuse: AbuseClassifier
    ) -> None:
        probs = proba(emotion, abuse, NOT_ABUSE)
        flagged = [(t, round(p, 2)) for t, p in zip(NOT_ABUSE, probs, strict=True) if p >= abuse.threshold]
        assert flagged == []

    def test_empty_text_has_no_probability(
        self, emotion: TransformerEmotionClassifier, abuse: AbuseClassifier
    ) -> None:
        texts = ["", "  ", "你是猪吗"]
        _, features = emotion.predict_with_features(texts)
        out = abuse.proba(texts, features)
        assert out[:2] == [None, None]
        assert out[2] is not None


class TestSharedPass:
    def test_emotion_predictions_unchanged(self, emotion: TransformerEmotionClassifier) -> None:
        texts = [*INSULTS, "", *NOT_ABUSE]
        preds, features = emotion.predict_with_features(texts)
        assert preds == emotion.predict(texts)
        assert tuple(features.shape) == (len(texts), 384 * len(emotion.layers))


class TestArtefact:
    def test_version_and_threshold(self, abuse: AbuseClassifier) -> None:
        meta = json.loads((ARTIFACT_DIR / "head.json").read_text())
        assert abuse.version == abuse_version()
        assert abuse.version.startswith("e5s-abuse-")
        assert abuse.threshold == meta["threshold"]
        size = sum(p.stat().st_size for p in ARTIFACT_DIR.iterdir())
        assert size < 3_000_000  # a head and an n-gram table, no encoder weights

    def test_other_layers_are_refused(self) -> None:
        with pytest.raises(ModelAssetError, match="other encoder features"):
            load_abuse_classifier(
                emotion_layers=(4, 8), base_model_sha256=base_model_sha256(DEFAULT_CACHE_DIR)
            )

    def test_missing_head_names_the_fix(self, tmp_path: Path) -> None:
        shutil.copytree(ARTIFACT_DIR, tmp_path / "artifact")
        (tmp_path / "artifact" / "head.safetensors").unlink()
        with pytest.raises(ModelAssetError, match="committed in git"):
            load_abuse_classifier(
                emotion_layers=(6, 7, 8),
                base_model_sha256=base_model_sha256(DEFAULT_CACHE_DIR),
                artifact_dir=tmp_path / "artifact",
            )
