"""The real emotion model (materialised e5-small base + committed head) on real labelled sentences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer

from evaluation.eval_emotion import jddc_neutral_questions
from models.emotion.data import head_training_set, load_empathetic, load_scmed, spoken_sets, text_part
from models.emotion.head import ARTIFACT_DIR, load_head
from models.emotion.loader import load_emotion_classifier
from models.emotion.setup import (
    DEFAULT_CACHE_DIR,
    MARKER,
    MODEL_SHA256,
    SETUP_COMMAND,
    ModelAssetError,
    check_materialized,
    materialize,
)
from pipelines.emotion import TransformerEmotionClassifier, encode_ids, summarize_conversation
from pipelines.types import EMOTION_LABELS, Utterance

# Gold labels from SMP2020-EWECT usual_test (never trained on), picked as clear cases by hand, 5 per class.
CLEAR_CASES: tuple[tuple[str, str], ...] = (
    ("其中，博士和在读博士9人，硕士10人。", "neutral"),
    ("2用法用量口服，一次1～3片，一日3次；", "neutral"),
    ("1997年4月，组建直辖后第一届委员会。", "neutral"),
    ("（3）通流能力大，压力损失小。", "neutral"),
    ("为扩建长安街，1952年拆除。", "neutral"),
    ("我的小宝贝特别的乖、吃饱了就睡了", "happy"),
    ("高高兴兴的过完一字开头的最后一个生日", "happy"),
    ("图为每天起床的动力！有麻麻的陪伴好幸福", "happy"),
    ("很开心我的世界里出现了一个令我感兴趣的男人。", "happy"),
    ("久违久违的晴天☀️心情瞬间美妙值upupup", "happy"),
    ("真不明白有些傻逼是怎么活到现在的。", "angry"),
    ("草泥马楼管傻逼傻逼傻逼傻逼傻逼傻逼", "angry"),
    ("美团也真是够了，让减肥的人无路可走啊", "angry"),
    ("大白天你车开的这么快，做死的节奏", "angry"),
    ("一爱记仇，耳根子软的人会气死，气死，气死", "angry"),
    ("要哭了，为了刷票开关飞行模式，手机坏了", "sad"),
    ("深刻感受到做一篇文献阅读好难。想哭", "sad"),
    ("老总说未来的日子里要经常加班了……心好痛", "sad"),
    ("考三次会计从业资格证的钱450心酸", "sad"),
    ("十一点半到十二点是每天最痛苦的时候", "sad"),
    ("太恐怖了！！！太吓人了……孩子一定得自己抱", "anxious"),
    ("恐惧是很可怕的一件事", "anxious"),
    ("突如其来的恐慌让我觉着好可怕", "anxious"),
    ("该不会真的要爆发第三次世界大战了吧", "anxious"),
    ("对前任处于担惊受怕状态泸州·泸县", "anxious"),
    ("火车上有卖雪糕的，我的天！竟然还有很多人买", "surprised"),
    ("卧槽，刚刚一架飞机从我头顶飞过去了，好低", "surprised"),
    ("妈呀！收拾卧室的时候发现床上掉下这个", "surprised"),
    ("苹果居然有这么逆天的统计…………", "surprised"),
    ("妈呀啥时候手滑点的赞自己都不知道", "surprised"),
)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The converted base: converted once (~10 s) if this checkout has not materialised it yet."""
    return materialize(DEFAULT_CACHE_DIR)


@pytest.fixture(scope="module")
def classifier(model_dir: Path) -> TransformerEmotionClassifier:
    """The classifier exactly as the service loads it (fp32, first 8 layers)."""
    return load_emotion_classifier(model_dir, num_threads=2, verify_checksum=False)


class TestAccuracy:
    def test_clear_held_out_cases(self, classifier: TransformerEmotionClassifier) -> None:
        preds = classifier.predict([t for t, _ in CLEAR_CASES])
        right = [t for (t, gold), p in zip(CLEAR_CASES, preds, strict=True) if p and p.label == gold]
        # The task's bar is 80 % (24/30).
        assert len(right) >= 24, [
            (t, g, p.label if p else None) for (t, g), p in zip(CLEAR_CASES, preds, strict=True)
        ]

    def test_customer_service_questions_are_neutral(self, classifier: TransformerEmotionClassifier) -> None:
        questions = [
            "我想修改一下收货地址",
            "请问什么时候发货？",
            "发票可以开公司抬头吗",
            "运输途中能改收货地址吗",
        ]
        acks = ["好的", "嗯", "没有了"]  # the commonest customer turns; a 'sad' here would skew every summary
        labels = [p.label if p else None for p in classifier.predict(questions + acks)]
        assert labels == ["neutral"] * 7

    def test_hand_checked_jddc_questions_mostly_neutral(
        self, classifier: TransformerEmotionClassifier
    ) -> None:
        questions = jddc_neutral_questions()
        assert len(questions) == 60
        neutral = sum(1 for p in classifier.predict(questions) if p and p.label == "neutral")
        assert neutral >= 57  # 95 % (the committed model: 60/60); a false 'angry' would pollute QA dashboards

    def test_clear_customer_emotions(self, classifier: TransformerEmotionClassifier) -> None:
        texts = [
            "你们这什么破服务，气死我了，我要投诉！",
            "太感谢了，问题解决了，服务很好",
            "快递到底什么时候到啊，我好着急",
        ]
        labels = [p.label if p else None for p in classifier.predict(texts)]
        assert labels == ["angry", "happy", "anxious"]


class TestSpokenStyle:
    """Issue 11 part 2: the head trained on the spoken-style sets' train parts; these rows are their test parts."""

    def test_held_out_spoken_sentences(self, classifier: TransformerEmotionClassifier) -> None:
        rows = load_scmed("test")[:150] + load_empathetic("test")[:100]
        preds = classifier.predict([e.text for e in rows])
        right = sum(1 for e, p in zip(rows, preds, strict=True) if p and p.label == e.label)
        # The committed model: 198 / 250; the model served before the retrain (b71239d): 139 / 250.
        assert right >= 185, right

    def test_training_rows_never_include_a_test_part(self) -> None:
        trained = {e.text for e in head_training_set() if e.source in ("scmed", "empathetic")}
        held_out = load_scmed("dev") + load_scmed("test") + load_empathetic("dev") + load_empathetic("test")
        assert len(held_out) > 1500
        assert not trained & {e.text for e in held_out}
        # Other corpora share a text only by chance (快乐 is also a Weibo post): 1 of 1,891.
        everything = {e.text for e in head_training_set()}
        assert sum(1 for e in held_out if e.text in everything) <= 3
        assert {e.text for e in spoken_sets()["scmed"]} == {
            e.text for e in load_scmed() if text_part(e.text) != "train"
        }
        parts = {text_part(e.text) for e in load_scmed()}
        assert parts == {"train", "dev", "test"}


class TestInputs:
    def test_empty_and_whitespace(self, classifier: TransformerEmotionClassifier) -> None:
        out = classifier.predict(["", "   ", "气死我了"])
        assert out[:2] == [None, None]
        assert out[2] is not None
        assert out[2].label == "angry"
        assert sorted(out[2].probs) == sorted(EMOTION_LABELS)
        assert sum(out[2].probs.values()) == pytest.approx(1.0, abs=1e-5)

    def test_long_input_is_truncated_to_its_beginning(
        self, classifier: TransformerEmotionClassifier, model_dir: Path
    ) -> None:
        head = "你们这什么破服务，气死我了，我要投诉！"
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        assert (
            len(encode_ids(tokenizer, [head * 5], 10_000)[0]) > classifier.max_tokens
        )  # 5 copies exceed the cap
        (long_pred,) = classifier.predict([head * 2000])
        (short_pred,) = classifier.predict([head * 5])
        assert long_pred is not None
        assert short_pred is not None
        assert long_pred.label == "angry"
        assert long_pred.probs["angry"] == pytest.approx(short_pred.probs["angry"], abs=1e-4)

    def test_emoji(self, classifier: TransformerEmotionClassifier) -> None:
        labels = [
            p.label if p else None for p in classifier.predict(["收到了，太喜欢了😊😊", "😡😡😡气死了"])
        ]
        assert labels == ["happy", "angry"]

    def test_traditional_characters(self, classifier: TransformerEmotionClassifier) -> None:
        simp, trad = classifier.predict(["你们这什么破服务，气死我了", "你們這什麼破服務，氣死我了"])
        assert simp is not None
        assert trad is not None
        assert (simp.label, trad.label) == ("angry", "angry")

    def test_conversation_summary_on_real_predictions(self, classifier: TransformerEmotionClassifier) -> None:
        texts = [
            ("customer", "你好，我想问一下我的订单什么时候发货"),
            ("agent", "您好，我帮您查询一下"),
            ("customer", "已经等了一个星期了，怎么还没发货"),
            ("agent", "非常抱歉，仓库缺货"),
            ("customer", "你们这什么破服务，气死我了，我要投诉！"),
        ]
        utts = [Utterance(index=i, speaker=s, text=t) for i, (s, t) in enumerate(texts)]  # type: ignore[arg-type]
        ce = summarize_conversation(utts, classifier.predict([t for _, t in texts]))
        assert ce.trajectory == "escalated"
        assert ce.ends_angry is True
        assert ce.peak_utterance_index == 4
        assert ce.dominant_negative == "angry"


class TestAssets:
    def test_artifact_matches_base(self) -> None:
        _, config, meta = load_head(ARTIFACT_DIR)
        assert config.base_model_sha256 == MODEL_SHA256
        assert tuple(config.labels) == EMOTION_LABELS
        assert (ARTIFACT_DIR / "head.safetensors").stat().st_size < 5_000_000
        assert meta["seed"] == 13

    def test_running_deeper_than_the_head_reads_changes_nothing(
        self, model_dir: Path, classifier: TransformerEmotionClassifier
    ) -> None:
        deeper = load_emotion_classifier(model_dir, verify_checksum=False, run_layers=10)
        texts = [t for t, _ in CLEAR_CASES[:10]]
        assert torch.allclose(deeper.predict_proba(texts), classifier.predict_proba(texts), atol=1e-5)

    def test_missing_base_names_setup_command(self, tmp_path: Path) -> None:
        with pytest.raises(ModelAssetError, match=SETUP_COMMAND.replace(".", r"\.")):
            load_emotion_classifier(tmp_path / "nowhere")

    def test_corrupt_base_is_detected(self, tmp_path: Path, model_dir: Path) -> None:
        bad = tmp_path / "e5-small"
        bad.mkdir()
        for name in ("config.json", "tokenizer.json", MARKER):
            shutil.copyfile(model_dir / name, bad / name)
        (bad / "model.safetensors").write_bytes(b"not a model")
        with pytest.raises(ModelAssetError, match="corrupt"):
            check_materialized(bad)
        assert json.loads((bad / MARKER).read_text())["model_sha256"] == MODEL_SHA256

    def test_materialize_is_a_no_op_when_present(self, model_dir: Path) -> None:
        before = (model_dir / "model.safetensors").stat().st_mtime_ns
        assert materialize(model_dir) == model_dir
        assert (model_dir / "model.safetensors").stat().st_mtime_ns == before
