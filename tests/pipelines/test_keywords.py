"""Keyword extraction on real JDDC sessions with the e-commerce user dictionary and stopwords."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from pipelines.keywords import KeywordExtractor, read_word_list
from pipelines.types import Keyword, Utterance

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO / "../shared/data"
USERDICT = REPO / "lexicons/jieba_userdict.txt"
STOPWORDS = REPO / "lexicons/stopwords.txt"


@pytest.fixture(scope="module")
def extractor() -> KeywordExtractor:
    return KeywordExtractor(userdict=USERDICT, stopwords=STOPWORDS, top_k=5)


@pytest.fixture(scope="module")
def sessions() -> dict[str, list[dict[str, Any]]]:
    lines = (SHARED_DATA / "dialogues/jddc_sample_sessions.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    return {row["session_id"]: row["turns"] for row in rows}


def utterances(turns: list[dict[str, Any]]) -> list[Utterance]:
    return [Utterance(index=i, speaker=t["role"], text=t["text"]) for i, t in enumerate(turns)]


def terms(keywords: list[Keyword], speaker: str | None) -> list[str]:
    return [k.term for k in keywords if k.speaker == speaker]


class TestRealSessions:
    def test_refund_session_customer_keywords(
        self, extractor: KeywordExtractor, sessions: dict[str, list[dict[str, Any]]]
    ) -> None:
        keywords = extractor.for_conversation(utterances(sessions["06d51010112ea9bba424686919818026"]))
        assert terms(keywords, "customer") == ["退款", "售后", "专员", "收到", "仓库"]

    def test_price_protection_session(
        self, extractor: KeywordExtractor, sessions: dict[str, list[dict[str, Any]]]
    ) -> None:
        keywords = extractor.for_conversation(utterances(sessions["0a997920fc4a3976ec9bbe1d6fc2f509"]))
        # 价保 is a user-dictionary word; plain jieba would not know it.
        assert terms(keywords, "customer") == ["价保", "退款", "支付"]

    def test_invoice_session_all_speakers(
        self, extractor: KeywordExtractor, sessions: dict[str, list[dict[str, Any]]]
    ) -> None:
        keywords = extractor.for_conversation(utterances(sessions["0032cff78a24ccc6de0d596725a3b11c"]))
        assert terms(keywords, None) == ["购物", "电子发票", "纸质发票", "报销", "公章"]
        assert terms(keywords, "customer") == ["电子发票", "纸质发票", "报销", "购物", "打印"]
        assert terms(keywords, "agent") == ["购物", "财务", "公章", "加盖", "寄出"]
        # Overall first, then customer, then agent; weights descending inside each block.
        assert [k.speaker for k in keywords] == [None] * 5 + ["customer"] * 5 + ["agent"] * 5
        for speaker in (None, "customer", "agent"):
            weights = [k.weight for k in keywords if k.speaker == speaker]
            assert weights == sorted(weights, reverse=True)

    def test_stopwords_never_returned(
        self, extractor: KeywordExtractor, sessions: dict[str, list[dict[str, Any]]]
    ) -> None:
        stopwords = set(read_word_list(STOPWORDS))
        returned = [
            k.term
            for turns in list(sessions.values())[:100]
            for k in extractor.for_conversation(utterances(turns))
        ]
        # Dictionary-only segmentation: words jieba's POS HMM used to guess are no longer candidates.
        assert len(returned) == 1390
        assert [t for t in returned if t in stopwords] == []
        assert [t for t in returned if len(t) < 2 or t.isdigit()] == []


class TestExtract:
    def test_placeholders_masks_and_filler_dropped(self, extractor: KeywordExtractor) -> None:
        text = "亲，您好，[订单x]的退款[数字x]元已经原路返回，请问还有什么可以帮您？电话138****5678"
        assert [t for t, _ in extractor.extract([text])] == ["原路返回", "退款", "电话"]

    def test_top_k_override_and_empty(self, extractor: KeywordExtractor) -> None:
        text = "我要申请七天无理由退货，运费险怎么赔付，退货地址在哪里"
        assert [t for t, _ in extractor.extract([text], top_k=2)] == ["退货", "七天无理由"]
        assert extractor.extract([]) == []
        assert extractor.extract(["[数字x] 好的 谢谢"]) == []

    def test_concurrent_calls_match_sequential(
        self, extractor: KeywordExtractor, sessions: dict[str, list[dict[str, Any]]]
    ) -> None:
        convs = [utterances(turns) for turns in list(sessions.values())[:24]]
        sequential = [extractor.for_conversation(c) for c in convs]
        with ThreadPoolExecutor(max_workers=4) as pool:
            parallel = list(pool.map(extractor.for_conversation, convs))
        assert parallel == sequential


class TestDictionary:
    def test_user_dictionary_words_stay_whole(self, extractor: KeywordExtractor) -> None:
        assert extractor.tokenize("七天无理由退货运费险") == ["七天无理由", "退货", "运费险"]
        assert extractor.tokenize("还没收到上门取件的电话") == ["还", "没收到", "上门取件", "的", "电话"]

    def test_global_jieba_untouched(self, extractor: KeywordExtractor) -> None:
        import jieba

        assert extractor.tokenize("运费险") == ["运费险"]
        assert jieba.lcut("运费险") == ["运费", "险"]

    def test_zero_frequency_rejected(self, tmp_path: Path) -> None:
        userdict = tmp_path / "userdict.txt"
        userdict.write_text("# comment\n退款 0 n\n", encoding="utf-8")
        with pytest.raises(ValueError, match="frequency 0"):
            KeywordExtractor(userdict=userdict, stopwords=STOPWORDS)

    def test_stopword_file_has_service_filler(self) -> None:
        words = set(read_word_list(STOPWORDS))
        assert {"您好", "亲", "请问", "谢谢", "嗯", "好的", "稍等", "数字x", "订单x"} <= words
        assert "退款" not in words


class TestCost:
    def test_rare_characters_cost_like_ordinary_text(self, extractor: KeywordExtractor) -> None:
        # jieba's POS HMM spent ~23 ms on each character it had no table row for (5,000 of them: 118 s).
        started = time.perf_counter()
        assert extractor.extract(["龘靐齉爩" * 1250]) == []
        assert time.perf_counter() - started < 1.5
