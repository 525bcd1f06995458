"""Sensitive-word matcher: curated lexicon on real JDDC lines and evasions, scope, allow-list, offsets."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from pipelines.sensitive import (
    LexiconEntry,
    LexiconError,
    SensitiveHit,
    SensitiveLexicon,
    SensitiveWordMatcher,
    _longest_non_overlapping,
    load_sensitive_lexicon,
)
from pipelines.types import Finding, Severity, Speaker, Utterance

LEXICONS = Path(__file__).resolve().parents[2] / "lexicons"


@pytest.fixture(scope="module")
def matcher() -> SensitiveWordMatcher:
    return SensitiveWordMatcher(load_sensitive_lexicon(LEXICONS))


def _spans(text: str, hits: list[SensitiveHit]) -> list[tuple[str, str, str]]:
    return [(hit.category, hit.term, text[hit.start : hit.end]) for hit in hits]


def _write_lexicon(root: Path, body: str, allow: str = "") -> Path:
    (root / "sensitive").mkdir(parents=True, exist_ok=True)
    (root / "sensitive" / "test.yaml").write_text(body, encoding="utf-8")
    (root / "allowlist.txt").write_text(allow, encoding="utf-8")
    return root


class TestCuratedLexicon:
    def test_loads_all_categories(self, matcher: SensitiveWordMatcher) -> None:
        assert set(matcher.lexicon.categories) == {
            "服务禁语",
            "投诉升级",
            "辱骂",
            "色情",
            "赌博",
            "毒品",
            "暴力",
        }
        assert len(matcher.version) == 12
        assert matcher.lexicon.files[-1] == "allowlist.txt"

    def test_version_is_stable(self, matcher: SensitiveWordMatcher) -> None:
        assert load_sensitive_lexicon(LEXICONS).version == matcher.version


class TestRealJddcLines:
    def test_agent_bare_bu_zhi_dao(self, matcher: SensitiveWordMatcher) -> None:
        text = "小妹这边不知道呢，不过如果您没接到，会在之后再次给您回电的 辛苦保持电话畅通哦"
        hits = matcher.find(text, speaker="agent")
        assert _spans(text, hits) == [("服务禁语", "不知道", "不知道")]
        assert (hits[0].start, hits[0].end, hits[0].severity, hits[0].scope) == (
            4,
            7,
            Severity.GENERAL,
            "agent",
        )

    def test_agent_rule_phrase(self, matcher: SensitiveWordMatcher) -> None:
        text = "这个已经无法解除了，我们订单只要被取消，就已经无法送货了，这是规定呢"
        assert _spans(text, matcher.find(text, speaker="agent")) == [("服务禁语", "这是规定", "这是规定")]

    def test_polite_template_is_allowed(self, matcher: SensitiveWordMatcher) -> None:
        text = "因为没有得到您的答复，暂时不知道您的问题我是否为您解决完毕"
        assert matcher.find(text, speaker="agent") == []

    @pytest.mark.parametrize(
        "text",
        [
            "喔， usb 线有赠送吧",
            "已确认收货。帮我申请售后",
            "能否更改收货地址 收件人不变地址变下",
            "好 你帮我操作一下好吧",
            "人工客服 京东快递(移动端) 你好",
        ],
    )
    def test_ordinary_customer_lines(self, matcher: SensitiveWordMatcher, text: str) -> None:
        assert matcher.find(text, speaker="customer") == []

    def test_customer_bad_review_threat(self, matcher: SensitiveWordMatcher) -> None:
        text = "我等你回复，否则我就差评了"
        hits = matcher.find(text, speaker="customer")
        assert _spans(text, hits) == [("投诉升级", "差评", "差评")]
        assert hits[0].severity == Severity.GENERAL

    def test_whole_jddc_sample(self, matcher: SensitiveWordMatcher, shared_data: Path) -> None:
        # Pins the curated lexicon's behaviour on 12,136 ordinary chats: a lexicon edit that changes it must
        # be looked at with evaluation/eval_sensitive.py and this count updated deliberately.
        flagged: Counter[tuple[str, str]] = Counter()
        with (shared_data / "dialogues" / "chat_0.1per.txt").open(encoding="utf-8") as handle:
            for row in handle:
                fields = row.rstrip("\n").split("\t", 6)
                speaker: Speaker = "agent" if fields[2] == "1" else "customer"
                for hit in matcher.find(fields[6], speaker=speaker):
                    flagged[(speaker, hit.term)] += 1
        assert flagged == Counter({("agent", "不知道"): 2, ("agent", "这是规定"): 1, ("customer", "差评"): 2})


class TestSpeakerScope:
    def test_bu_zhi_dao_customer_vs_agent(self, matcher: SensitiveWordMatcher) -> None:
        assert matcher.find("我也不知道", speaker="customer") == []
        assert _spans("我也不知道", matcher.find("我也不知道", speaker="agent")) == [
            ("服务禁语", "不知道", "不知道")
        ]

    def test_unknown_speaker_only_fires_any_scope(self, matcher: SensitiveWordMatcher) -> None:
        text = "不知道，我要投诉，再不解决我就打12315"
        assert _spans(text, matcher.find(text, speaker="unknown")) == [("投诉升级", "12315", "12315")]
        assert _spans(text, matcher.find(text, speaker="customer")) == [
            ("投诉升级", "投诉", "投诉"),
            # a customer-scope regex rule, reported beside the words it contains
            ("投诉升级", "再不…就投诉", "再不解决我就打12315"),
            ("投诉升级", "12315", "12315"),
        ]

    def test_agent_abuse_is_major(self, matcher: SensitiveWordMatcher) -> None:
        assert [h.severity for h in matcher.find("王八蛋", speaker="agent")] == [Severity.MAJOR]
        assert [h.severity for h in matcher.find("王八蛋", speaker="customer")] == [Severity.IMPORTANT]


class TestEvasions:
    @pytest.mark.parametrize(
        ("text", "speaker", "expected"),
        [
            ("你个傻@逼", "customer", [("辱骂", "傻逼", "傻@逼")]),
            ("我要投 诉", "customer", [("投诉升级", "投诉", "投 诉")]),
            ("我要投\u200b诉", "customer", [("投诉升级", "投诉", "投\u200b诉")]),
            ("打 12 3 1 5", "unknown", [("投诉升级", "12315", "12 3 1 5")]),
            ("我要去１２３１５", "customer", [("投诉升级", "12315", "１２３１５")]),
            ("你是ＳＢ吧", "customer", [("辱骂", "傻逼", "ＳＢ")]),
            ("Ｔ٠Ｍ٠Ｄ什么破服务", "customer", [("辱骂", "他妈的", "Ｔ٠Ｍ٠Ｄ")]),
            ("這不歸我管", "agent", [("服务禁语", "这不归我管", "這不歸我管")]),
            ("愛買不買", "agent", [("服务禁语", "爱买不买", "愛買不買")]),
            ("真他 妈 的坑", "customer", [("辱骂", "他妈的", "他 妈 的")]),
        ],
    )
    def test_detected_with_original_offsets(
        self, matcher: SensitiveWordMatcher, text: str, speaker: Speaker, expected: list[tuple[str, str, str]]
    ) -> None:
        assert _spans(text, matcher.find(text, speaker=speaker)) == expected


class TestAllowListAndBoundaries:
    @pytest.mark.parametrize("text", ["USB", "ＵＳＢ接口", "U S B 线", "I S B N：978", "usb3.0"])
    def test_sb_inside_usb_isbn(self, matcher: SensitiveWordMatcher, text: str) -> None:
        assert matcher.find(text, speaker="customer") == []

    def test_sb_on_its_own_fires(self, matcher: SensitiveWordMatcher) -> None:
        assert _spans("你sb吧", matcher.find("你sb吧", speaker="customer")) == [("辱骂", "傻逼", "sb")]

    def test_digits_inside_a_longer_number(self, matcher: SensitiveWordMatcher) -> None:
        assert matcher.find("订单号4001231500", speaker="customer") == []

    @pytest.mark.parametrize("text", ["遇到很大麻烦", "偏色情况严重", "我操心的是发票", "烟雾报警器响了"])
    def test_allow_listed_phrases(self, matcher: SensitiveWordMatcher, text: str) -> None:
        assert matcher.find(text, speaker="customer") == []

    def test_allow_list_only_suppresses_covered_hits(self, tmp_path: Path) -> None:
        root = _write_lexicon(tmp_path, "category: t\nterms: [大麻]\n", allow="大麻烦\n")
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(root))
        assert matcher.find("很大麻烦", speaker="customer") == []
        assert _spans("大麻大麻烦", matcher.find("大麻大麻烦", speaker="customer")) == [("t", "大麻", "大麻")]


class TestLongestMatch:
    def test_longest_wins_over_contained(self, tmp_path: Path) -> None:
        body = "category: t\ndefaults: {scope: any}\nterms: [投诉, 你去投诉吧, 去投]\n"
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(_write_lexicon(tmp_path, body)))
        text = "那你去投诉吧"
        assert _spans(text, matcher.find(text, speaker="agent")) == [("t", "你去投诉吧", "你去投诉吧")]

    def test_overlap_keeps_longest_then_leftmost(self, tmp_path: Path) -> None:
        body = "category: t\nterms: [甲乙, 乙丙丁, 丙丁戊, 戊己]\n"
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(_write_lexicon(tmp_path, body)))
        text = "甲乙丙丁戊己"
        assert _spans(text, matcher.find(text, speaker="agent")) == [
            ("t", "乙丙丁", "乙丙丁"),
            ("t", "戊己", "戊己"),
        ]

    def test_scan_reports_every_overlapping_occurrence(self, tmp_path: Path) -> None:
        body = "category: t\nterms: [甲乙, 乙丙丁, 丙丁戊, 戊己]\n"
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(_write_lexicon(tmp_path, body)))
        spans = sorted((start, end) for _, start, end in matcher.scan("甲乙丙丁戊己"))
        assert spans == [(0, 2), (1, 4), (2, 5), (4, 6)]

    def test_ascii_terms_need_word_boundaries(self, tmp_path: Path) -> None:
        matcher = SensitiveWordMatcher(
            load_sensitive_lexicon(_write_lexicon(tmp_path, "category: t\nterms: [bcd]\n"))
        )
        assert matcher.find("abcde", speaker="agent") == []
        assert _spans("a bcd e", matcher.find("a bcd e", speaker="agent")) == [("t", "bcd", "bcd")]

    def test_text_full_of_overlapping_hits(self, tmp_path: Path) -> None:
        body = "category: t\nterms: [甲乙, 乙丙丁, 丙丁戊, 戊己]\n"
        matcher = SensitiveWordMatcher(load_sensitive_lexicon(_write_lexicon(tmp_path, body)))
        hits = matcher.find("甲乙丙丁戊己" * 3000, speaker="agent")
        assert len(hits) == 6000
        assert [(h.term, h.start % 6) for h in hits[:2]] == [("乙丙丁", 1), ("戊己", 4)]

    def test_longest_non_overlapping_matches_the_pairwise_rule(self) -> None:
        # The bisecting selection must choose exactly what comparing every pair chose.
        rng = random.Random(7)
        entries: tuple[LexiconEntry, ...] = ()
        for _ in range(50):
            candidates = []
            for _ in range(rng.randint(0, 60)):
                start = rng.randint(0, 80)
                candidates.append((start, start + rng.randint(1, 6), entries))
            chosen: list[tuple[int, int, tuple[LexiconEntry, ...]]] = []
            for c in sorted(candidates, key=lambda hit: (hit[0] - hit[1], hit[0])):
                if all(c[1] <= s or e <= c[0] for s, e, _ in chosen):
                    chosen.append(c)
            assert _longest_non_overlapping(candidates) == sorted(chosen, key=lambda hit: hit[0])

    def test_curated_agent_phrase(self, matcher: SensitiveWordMatcher) -> None:
        text = "你去投诉吧，随便"
        assert _spans(text, matcher.find(text, speaker="agent")) == [("服务禁语", "你去投诉吧", "你去投诉吧")]


class TestFindings:
    def test_findings_per_utterance(self, matcher: SensitiveWordMatcher) -> None:
        utterances = [
            Utterance(index=0, speaker="customer", text="我也不知道怎么办"),
            Utterance(index=1, speaker="agent", text="这个小妹也不知道呢"),
            Utterance(index=2, speaker="customer", text="我要投訴，打１２３１５"),
        ]

        def word(category: str, severity: Severity, term: str, index: int, start: int, end: int) -> Finding:
            rule = f"lexicon:{category}"
            return Finding(
                "sensitive_word", category, severity, rule, term, index, start, end, "variant=exact"
            )

        assert matcher.findings(utterances) == [
            word("服务禁语", Severity.GENERAL, "不知道", 1, 5, 8),
            word("投诉升级", Severity.IMPORTANT, "投诉", 2, 2, 4),
            word("投诉升级", Severity.MAJOR, "12315", 2, 6, 11),
        ]


class TestLoading:
    def test_version_changes_with_content(self, tmp_path: Path) -> None:
        root = _write_lexicon(tmp_path, "category: t\nterms: [投诉]\n")
        first = load_sensitive_lexicon(root).version
        (root / "allowlist.txt").write_text("投诉进度\n", encoding="utf-8")
        assert load_sensitive_lexicon(root).version != first

    def test_entry_fields(self, tmp_path: Path) -> None:
        body = (
            "category: 投诉升级\ndefaults: {severity: 重要, scope: customer}\n"
            "terms:\n  - 12315\n  - {term: 起诉, severity: major, scope: any, variants: [打官司]}\n"
        )
        lexicon = load_sensitive_lexicon(_write_lexicon(tmp_path, body, allow="# comment\n\nusb  # inline\n"))
        assert [(e.term, e.severity, e.scope, e.variants) for e in lexicon.entries] == [
            ("12315", Severity.IMPORTANT, "customer", ()),
            ("起诉", Severity.MAJOR, "any", ("打官司",)),
        ]
        assert lexicon.allowlist == ("usb",)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ("terms: [a]\n", "category"),
            ("category: t\nterms: [{term: a, severity: 严重}]\n", "unknown severity"),
            ("category: t\nterms: [{term: a, scope: both}]\n", "scope"),
            ("category: t\nterms: [{term: a, sevrity: 一般}]\n", "unknown keys"),
            ("category: t\nterms: [a, {term: b, variants: [a]}]\n", "listed twice"),
            ("category: t\nterms: [a\n", "invalid YAML"),
        ],
    )
    def test_malformed_files_are_rejected(self, tmp_path: Path, body: str, message: str) -> None:
        with pytest.raises(LexiconError, match=message):
            load_sensitive_lexicon(_write_lexicon(tmp_path, body))

    def test_term_that_normalises_to_nothing(self, tmp_path: Path) -> None:
        lexicon = load_sensitive_lexicon(_write_lexicon(tmp_path, "category: t\nterms: ['@@']\n"))
        with pytest.raises(LexiconError, match="can never match"):
            SensitiveWordMatcher(lexicon)

    def test_empty_lexicon_matches_nothing(self) -> None:
        matcher = SensitiveWordMatcher(SensitiveLexicon(entries=(), allowlist=(), version="empty"))
        assert matcher.find("投诉", speaker="customer") == []

    def test_missing_folder(self, tmp_path: Path) -> None:
        with pytest.raises(LexiconError, match="no sensitive-word lexicon folder"):
            load_sensitive_lexicon(tmp_path)
