"""Evasion-proof matching: pinyin, initials, homophones, numerals, regex rules, splits, look-alikes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipelines.evasion import join_splits, lookalike_texts, numeral_text, phonetic_forms, to_phonetic
from pipelines.sensitive import LexiconError, SensitiveWordMatcher, load_sensitive_lexicon
from pipelines.sensitive_regex import RegexRule, RegexRuleError
from pipelines.types import Finding, Severity, Speaker, Utterance

LEXICONS = Path(__file__).resolve().parents[2] / "lexicons"


@pytest.fixture(scope="module")
def matcher() -> SensitiveWordMatcher:
    return SensitiveWordMatcher(load_sensitive_lexicon(LEXICONS))


def _hits(
    matcher: SensitiveWordMatcher, text: str, speaker: Speaker = "customer"
) -> list[tuple[str, str, str]]:
    return [(h.term, h.variant, text[h.start : h.end]) for h in matcher.find(text, speaker=speaker)]


def _write(root: Path, body: str) -> Path:
    (root / "sensitive").mkdir(parents=True, exist_ok=True)
    (root / "sensitive" / "t.yaml").write_text(body, encoding="utf-8")
    return root


class TestPinyinAndInitials:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("你是shabi吧", [("傻逼", "pinyin", "shabi")]),
            ("你是SHA bi吧", [("傻逼", "pinyin", "SHA bi")]),
            ("我要tou诉", [("投诉", "pinyin", "tou诉")]),
            ("我要 tousu 你们", [("投诉", "pinyin", "tousu")]),
            ("cao你妈", [("操你妈", "pinyin", "cao你妈")]),
            ("客服他MD差劲", [("他妈的", "initials", "他MD")]),
            ("去你M的", [("他妈的", "initials", "去你M的")]),
            ("傻b客服", [("傻逼", "exact", "傻b")]),  # listed spellings stay exact
        ],
    )
    def test_detected(
        self, matcher: SensitiveWordMatcher, text: str, expected: list[tuple[str, str, str]]
    ) -> None:
        assert _hits(matcher, text) == expected

    @pytest.mark.parametrize("text", ["tousun", "atousu", "我的ts订单", "usb", "U S B 线", "大M演绎"])
    def test_no_match_inside_words_or_for_short_initials(
        self, matcher: SensitiveWordMatcher, text: str
    ) -> None:
        assert matcher.find(text, speaker="customer") == []

    def test_forms_of_a_term(self) -> None:
        forms = {
            f.text: (f.typed, f.initials)
            for f in phonetic_forms("傻逼", pinyin=True, initials=True, homophones=True)
        }
        assert forms["SHABI"] == (False, False)  # homophones in characters
        assert forms["shabi"] == (True, False)
        assert forms["SHAb"] == (True, True)  # 傻b
        assert forms["sb"] == (True, True)
        assert len(forms) == 9

    def test_capitals_keep_characters_apart_from_typed_pinyin(self) -> None:
        assert to_phonetic("沙比sb") == "SHABIsb"


class TestHomophones:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("你个煞笔", [("傻逼", "homophone", "煞笔")]),
            ("太啥笔了吧", [("傻逼", "homophone", "啥笔")]),
            ("这他吗的平板", [("他妈的", "homophone", "他吗的")]),
            ("草尼吗的", [("操你妈", "homophone", "草尼吗")]),
        ],
    )
    def test_detected(
        self, matcher: SensitiveWordMatcher, text: str, expected: list[tuple[str, str, str]]
    ) -> None:
        assert _hits(matcher, text) == expected

    @pytest.mark.parametrize(
        "text",
        [
            "出生日期填错了",  # 畜生: two syllables, homophones off by default
            "制度就是这样",  # 制毒
            "好哒，麻烦您了",  # 大麻 across a comma
            "一团散沙乱七八糟",  # 傻卵: its entry takes no homophones
            "是食材的问题",  # 时时彩: no character of the term kept
        ],
    )
    def test_ordinary_words_do_not_fire(self, matcher: SensitiveWordMatcher, text: str) -> None:
        assert matcher.find(text, speaker="customer") == []

    def test_switches_per_entry(self, tmp_path: Path) -> None:
        body = (
            "category: t\nterms:\n  - {term: 畜生, homophones: true}\n"
            "  - {term: 他妈的, homophones: false, pinyin: false}\n"
        )
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(_write(tmp_path, body)))
        assert _hits(matcher, "你这个处生") == [("畜生", "homophone", "处生")]
        assert _hits(matcher, "出生") == []  # a common dictionary word is never a homophone hit
        assert _hits(matcher, "他吗的") == []
        assert _hits(matcher, "tamade") == []

    def test_switch_must_be_boolean(self, tmp_path: Path) -> None:
        with pytest.raises(LexiconError, match="must be true or false"):
            load_sensitive_lexicon(
                _write(tmp_path, "category: t\nterms: [{term: 畜生, homophones: yes please}]\n")
            )


class TestNumerals:
    @pytest.mark.parametrize(
        "text", ["打一二三一五", "打幺二三幺五", "打１２３１５", "打1 2 3 1 5", "打一23一5", "打幺2三1五"]
    )
    def test_12315_spelled_out(self, matcher: SensitiveWordMatcher, text: str) -> None:
        hits = matcher.find(text, speaker="unknown")
        assert [(h.term, text[h.start : h.end]) for h in hits] == [("12315", text[1:])]

    def test_variant_named(self, matcher: SensitiveWordMatcher) -> None:
        assert _hits(matcher, "打一23一5", "unknown") == [("12315", "numeral", "一23一5")]

    def test_inside_a_longer_number(self, matcher: SensitiveWordMatcher) -> None:
        assert matcher.find("一23一56", speaker="unknown") == []
        assert numeral_text("幺两三") == "123"


class TestRegexRules:
    def test_refund_threat(self, matcher: SensitiveWordMatcher) -> None:
        text = "你们再 不 退款，我就投訴"
        assert _hits(matcher, text) == [
            ("再不…就投诉", "regex", "再 不 退款，我就投訴"),
            ("投诉", "exact", "投訴"),  # rules are reported beside the words they contain
        ]

    def test_rule_never_crosses_a_sentence_end(self, matcher: SensitiveWordMatcher) -> None:
        assert _hits(matcher, "再不发货。我就投诉") == [("投诉", "exact", "投诉")]

    def test_rule_reported_beside_the_words_it_contains(self, matcher: SensitiveWordMatcher) -> None:
        text = "再不解决我就打12315"
        assert [(t, v) for t, v, _ in _hits(matcher, text)] == [("再不…就投诉", "regex"), ("12315", "exact")]

    @pytest.mark.parametrize(
        ("pattern", "message"),
        [
            (r"(a)\1", "refused by RE2"),  # back-reference: needs backtracking
            ("(?=a)b", "refused by RE2"),  # look-ahead
            ("(a{1000}){1000}", "refused by RE2"),  # blows the program size up
            ("再.*", None),
            ("a*", "empty string"),
            ("x" * 301, "1–300"),
        ],
    )
    def test_pathological_patterns(self, pattern: str, message: str | None) -> None:
        if message is None:
            assert RegexRule(pattern).pattern == pattern
            return
        with pytest.raises(RegexRuleError, match=message):
            RegexRule(pattern)

    def test_refused_at_lexicon_load(self, tmp_path: Path) -> None:
        body = "category: t\nterms:\n  - {term: 回溯, regex: '(投诉)\\1'}\n"
        with pytest.raises(LexiconError, match=r"t.yaml: '回溯': regex .* refused by RE2"):
            load_sensitive_lexicon(_write(tmp_path, body))

    def test_regex_takes_no_variants(self, tmp_path: Path) -> None:
        body = "category: t\nterms:\n  - {term: r, regex: 投诉, variants: [举报]}\n"
        with pytest.raises(LexiconError, match="takes no variants"):
            load_sensitive_lexicon(_write(tmp_path, body))

    def test_adversarial_input_is_linear(self, tmp_path: Path) -> None:
        # (x+x+)+y backtracks exponentially in Python's re; RE2 scans it once.
        body = "category: t\nterms:\n  - {term: r, regex: '(x+x+)+y'}\n"
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(_write(tmp_path, body)))
        started = time.perf_counter()
        assert matcher.find("x" * 50_000 + "1" * 50_000, speaker="customer") == []
        assert time.perf_counter() - started < 1.0


class TestSplitsAndLookalikes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("你女马的", [("你妈逼", "split", "你女马的")]),
            ("亻尔女马逼", [("你妈逼", "split", "亻尔女马逼")]),
            ("扌喿你妈的", [("操你妈", "split", "扌喿你妈")]),
            ("sh1t", [("fuck", "lookalike", "sh1t")]),
            ("what the FU(K b1tch", [("fuck", "lookalike", "b1tch")]),
            ("买点 1sd", [("迷幻药", "lookalike", "1sd")]),
        ],
    )
    def test_detected(
        self, matcher: SensitiveWordMatcher, text: str, expected: list[tuple[str, str, str]]
    ) -> None:
        assert _hits(matcher, text) == expected

    @pytest.mark.parametrize("text", ["BL-5B电池", "坐5B路车", "男女马拉松"])
    def test_ordinary_text(self, matcher: SensitiveWordMatcher, text: str) -> None:
        assert matcher.find(text, speaker="customer") == []

    def test_rewrites(self) -> None:
        assert join_splits("你女马的") == ("你妈的", (0, 1, 3))
        assert join_splits("你好") is None
        assert lookalike_texts("sh1t 123") == ["shit 123", "shlt 123"]
        assert lookalike_texts("12315") == []


class TestFindingsNameTheVariant:
    def test_detail(self, matcher: SensitiveWordMatcher) -> None:
        utterances = [
            Utterance(index=0, speaker="customer", text="你个煞笔"),
            Utterance(index=1, speaker="agent", text="爱买不买"),
        ]
        assert matcher.findings(utterances) == [
            Finding(
                "sensitive_word",
                "辱骂",
                Severity.IMPORTANT,
                "lexicon:辱骂",
                "傻逼",
                0,
                2,
                4,
                "variant=homophone",
            ),
            Finding(
                "sensitive_word",
                "服务禁语",
                Severity.MAJOR,
                "lexicon:服务禁语",
                "爱买不买",
                1,
                0,
                4,
                "variant=exact",
            ),
        ]

    def test_plain_matcher_ignores_evasions(self) -> None:
        plain = SensitiveWordMatcher(load_sensitive_lexicon(LEXICONS), evasion=False)
        assert plain.find("你个煞笔", speaker="customer") == []
        assert plain.find("你再不退款我就投诉", speaker="customer")[0].term == "投诉"
