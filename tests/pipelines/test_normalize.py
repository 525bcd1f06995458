"""Normalizer: width, script, case and separator folding, with offsets that point into the original text."""

from __future__ import annotations

import pytest

from pipelines.normalize import NormalizedText, Normalizer


@pytest.fixture(scope="module")
def normalizer() -> Normalizer:
    return Normalizer()


class TestFolding:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("１２３１５", "12315"),  # full-width digits
            ("ＴＭＤ", "tmd"),  # full-width letters, case
            ("這不歸我管", "这不归我管"),  # traditional
            ("你問我我問誰", "你问我我问谁"),
            ("USB接口", "usb接口"),
            ("ﬁ①㈱", "fi1株"),  # NFKC expansions; ㈱'s parentheses are separators
        ],
    )
    def test_folds(self, normalizer: Normalizer, text: str, expected: str) -> None:
        assert normalizer(text).text == expected

    def test_without_traditional_conversion(self) -> None:
        assert Normalizer(traditional_to_simplified=False)("這不歸我管").text == "這不歸我管"


class TestSeparators:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("傻@逼", "傻逼"),
            ("投 诉", "投诉"),
            ("投*诉", "投诉"),
            ("投-诉", "投诉"),
            ("投\u200b诉", "投诉"),  # zero-width space
            ("投😡诉", "投诉"),
            ("12 3 1 5", "12315"),
            ("Ｔ٠Ｍ٠Ｄ", "tmd"),  # Arabic-Indic zero used as a dot
            ("都，他，妈，的", "都他妈的"),  # commas between single characters: a real evasion from reviews
        ],
    )
    def test_removed(self, normalizer: Normalizer, text: str, expected: str) -> None:
        assert normalizer(text).text == expected

    def test_sentence_boundaries_are_kept(self, normalizer: Normalizer) -> None:
        assert normalizer("不知道。投诉！好？的；\n…").text == "不知道。投诉!好?的;\n…"


class TestFoldOnly:
    def test_fold_matches_the_full_normalisation(self) -> None:
        normalizer = Normalizer()  # fresh: fold must also map characters it has never seen
        text = "ﬁx：傻 @ 逼！這"
        assert normalizer.fold(text) == "fix傻逼!这"
        normalized = normalizer(text)
        assert normalized.text == "fix傻逼!这"
        assert normalized.offsets == (0, 0, 1, 3, 7, 8, 9)


class TestOffsets:
    def test_offsets_point_into_the_original(self, normalizer: Normalizer) -> None:
        text = "小妹：傻 @ 逼！"
        normalized = normalizer(text)
        assert normalized.text == "小妹傻逼!"
        assert normalized.offsets == (0, 1, 3, 7, 8)
        start, end = normalized.to_original(2, 4)
        assert (start, end) == (3, 8)
        assert text[start:end] == "傻 @ 逼"

    def test_expansion_maps_every_piece_to_its_source(self, normalizer: Normalizer) -> None:
        normalized = normalizer("ﬁx")
        assert normalized.text == "fix"
        assert normalized.offsets == (0, 0, 1)
        assert normalized.to_original(1, 3) == (0, 2)

    def test_real_jddc_line(self, normalizer: Normalizer) -> None:
        text = "人工客服 京东快递(移动端) 你好"
        normalized = normalizer(text)
        assert normalized.text == "人工客服京东快递移动端你好"
        assert len(normalized.offsets) == len(normalized.text)
        assert all(text[o] == c for o, c in zip(normalized.offsets, normalized.text, strict=True))

    def test_gap_before_marks_removed_separators(self, normalizer: Normalizer) -> None:
        normalized = normalizer("a b")
        assert normalized.text == "ab"
        assert normalized.gap_before(1) is True
        assert normalizer("ab").gap_before(1) is False

    def test_empty(self, normalizer: Normalizer) -> None:
        assert normalizer("") == NormalizedText(text="", offsets=())
        assert normalizer("，。").text == "。"

    def test_span_outside_text_is_rejected(self, normalizer: Normalizer) -> None:
        with pytest.raises(ValueError, match="outside normalised text"):
            normalizer("投诉").to_original(1, 3)
