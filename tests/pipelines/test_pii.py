"""PII masking: valid synthetic numbers are masked with stable shapes, invalid ones and JDDC text are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.pii import MaskedText, PiiMasker, PiiSpan, id_check_digit, luhn_valid, pii_findings
from pipelines.types import Finding, Severity

SHARED_DATA = Path(__file__).resolve().parents[2] / "../shared/data"
# GB 11643-1999's own worked example; check digit X.
VALID_ID = "11010519491231002X"
VALID_CARD_19 = "6222021234567890128"  # Luhn-valid
VALID_CARD_16 = "4111111111111111"  # the classic Luhn-valid test number


@pytest.fixture(scope="module")
def masker() -> PiiMasker:
    return PiiMasker()


class TestChecksums:
    def test_id_check_digit(self) -> None:
        assert id_check_digit(VALID_ID[:17]) == "X"
        assert id_check_digit("44052418800101001") == "4"

    def test_luhn(self) -> None:
        assert luhn_valid(VALID_CARD_19)
        assert luhn_valid(VALID_CARD_16)
        assert not luhn_valid("6222021234567890123")


class TestMasking:
    @pytest.mark.parametrize(
        ("text", "expected", "kind"),
        [
            ("我的手机是13812345678谢谢", "我的手机是138****5678谢谢", "mobile"),
            ("电话 138 1234 5678 ", "电话 138****5678 ", "mobile"),
            ("打+86 138-1234-5678", "打138****5678", "mobile"),
            ("手机一三八一二三四五六七八九点前打", "手机138****5678九点前打", "mobile"),
            ("幺三八幺二三四五六七八", "138****5678", "mobile"),
            ("号码是１３８１２３４５６７８", "号码是138****5678", "mobile"),
            ("座机010-12345678", "座机010-****5678", "landline"),
            ("0551-1234567转8", "0551-****4567转8", "landline"),
            (f"身份证{VALID_ID}", "身份证110***********002X", "id_card"),
            ("身份证11010519491231002x", "身份证110***********002X", "id_card"),
            ("身份证440524800101001", "身份证440********1001", "id_card"),
            (f"卡号{VALID_CARD_19}", "卡号6222***********0128", "bank_card"),
            ("卡号 4111 1111 1111 1111", "卡号 4111********1111", "bank_card"),
            ("邮箱zhang.san@example.com", "邮箱z***@example.com", "email"),
            ("123456789@qq.com", "1***@qq.com", "email"),
        ],
    )
    def test_masks_one_value(self, masker: PiiMasker, text: str, expected: str, kind: str) -> None:
        masked = masker.mask(text)
        assert masked.text == expected
        assert len(masked.spans) == 1
        span = masked.spans[0]
        assert span.kind == kind
        # The span covers exactly the mask in the masked text.
        assert "*" in masked.text[span.start : span.end]
        assert masked.text[: span.start] == expected[: span.start]

    def test_spans_shift_with_earlier_masks(self, masker: PiiMasker) -> None:
        masked = masker.mask("+86 138 1234 5678，备用13912345678")
        assert masked == MaskedText(
            "138****5678，备用139****5678",
            (PiiSpan("mobile", 0, 11), PiiSpan("mobile", 14, 25)),
        )

    @pytest.mark.parametrize(
        "text",
        [
            "身份证110105194912310020",  # wrong check digit
            "身份证110105194913310021",  # month 13, even with a recomputed check digit the date is invalid
            "卡号6222021234567890123",  # fails Luhn
            "订单号13812345678",  # order number that looks like a mobile
            "SN13812345678",  # glued to letters: a serial number
            "拨打12315投诉",
            "价格1999元，2023-01-15 13:45，数量12",
            "[电话x]，[数字x]件，[订单x]",
            "热线400-820-8820",
            "我要退两件，一共三百二十块",
            "12812345678",  # 12x is not a mobile prefix
        ],
    )
    def test_leaves_non_pii(self, masker: PiiMasker, text: str) -> None:
        assert masker.mask(text) == MaskedText(text, ())

    def test_idempotent(self, masker: PiiMasker) -> None:
        once = masker.mask(f"电话13812345678 身份证{VALID_ID} 邮箱a.b@c.cn")
        assert masker.mask(once.text) == MaskedText(once.text, ())

    def test_jddc_chats_have_no_false_positives(self, masker: PiiMasker) -> None:
        # JDDC already replaced personal data with placeholders, so every hit would be a false positive.
        lines = (
            (SHARED_DATA / "dialogues/jddc_sample_sessions.jsonl").read_text(encoding="utf-8").splitlines()
        )
        turns = [t["text"] for line in lines for t in json.loads(line)["turns"]]
        assert len(turns) == 12136
        assert [t for t in turns if masker.mask(t).spans] == []


class TestFindings:
    def test_one_finding_per_span_without_value(self, masker: PiiMasker) -> None:
        masked = masker.mask(f"手机13812345678，卡号{VALID_CARD_16}")
        assert pii_findings(3, masked) == [
            Finding(kind="pii", category="mobile", severity=Severity.NONE, rule="pii:mobile",
                    utterance_index=3, start=2, end=13),
            Finding(kind="pii", category="bank_card", severity=Severity.NONE, rule="pii:bank_card",
                    utterance_index=3, start=16, end=32),
        ]  # fmt: skip

    def test_no_findings_for_clean_text(self, masker: PiiMasker) -> None:
        assert pii_findings(0, masker.mask("好的，谢谢")) == []
