"""PII masking: phone numbers, ID cards, bank cards and e-mail addresses in Chinese chat and call transcripts.

Masked forms keep the shape a reviewer needs and nothing that identifies the person:

====================  ==========================  =====================================
kind                  example input               masked output
====================  ==========================  =====================================
``mobile``            138 1234 5678 / 一三八…      ``138****5678``
``landline``          010-12345678                ``010-****5678``
``id_card``           11010519491231002X          ``110***********002X`` (15-digit: ``110********123``)
``bank_card``         6222 0212 3456 7890 128     ``6222***********0128`` (one ``*`` per hidden digit)
``email``             zhang.san@example.com       ``z***@example.com``
====================  ==========================  =====================================

Spoken and full-width digits (一三八…, 幺 = 1, 两 = 2, 零/〇 = 0, １３８…) are read as digits; the kept digits
are written as ASCII. Separators (space, dash) inside a number are swallowed by the mask. Numbers are only
masked when they validate (mobile prefix 1[3-9], ID MOD 11-2 check digit and birth date, bank card Luhn), so
prices, dates, quantities, 12315/400 hotlines and JDDC placeholders ([数字x], [电话x]) are left alone.
Masking is idempotent: masked text contains no digit run long enough to match again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from pipelines.types import Finding, Severity

PII_KINDS: tuple[str, ...] = ("mobile", "landline", "id_card", "bank_card", "email")

_CN_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
              "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}  # fmt: skip
_SEPARATORS = frozenset(" -\u2013\u2014\u3000\t")
_MAX_SEPARATORS = 2  # "138 - 1234" still reads as one number; more than that starts a new one
_EMAIL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
_LANDLINE_RE = re.compile(r"0[1-9]\d{8,10}")
# Province codes of resident ID numbers (GB/T 2260 first two digits): cuts random 18-digit false positives.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# A number right after these words is an order/waybill/SKU number, not a person's data.
_ORDER_CUES = ("订单", "单号", "运单", "编号", "工单", "货号", "型号", "sku", "SKU", "条码")
_PERSON_CUES = ("电话", "手机", "号码", "联系", "身份证", "卡号", "银行卡", "打给")
_CUE_WINDOW = 8


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One masked region; offsets are [start, end) in the MASKED text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class MaskedText:
    """Text with PII replaced by masks, and where each mask lies in it."""

    text: str
    spans: tuple[PiiSpan, ...]


@dataclass(frozen=True, slots=True)
class _Hit:
    kind: str
    start: int  # original text offsets
    end: int
    replacement: str


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum (bank cards)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def _is_id_card(d: str) -> bool:
    if d[:2] not in _PROVINCES:
        return False
    if len(d) == 18:
        return (
            d[:17].isdigit()
            and _valid_date(int(d[6:10]), int(d[10:12]), int(d[12:14]))
            and (id_check_digit(d[:17]) == d[17])
        )
    return len(d) == 15 and d.isdigit() and _valid_date(1900 + int(d[6:8]), int(d[8:10]), int(d[10:12]))


def _classify(d: str) -> tuple[str, str] | None:
    """(kind, masked form) for a digit string, or None when it is not PII."""
    n = len(d)
    if n == 13 and d.startswith("86") and _MOBILE_RE.fullmatch(d[2:]):
        d, n = d[2:], 11
    if n == 12 and d.startswith("0") and _MOBILE_RE.fullmatch(d[1:]):
        d, n = d[1:], 11
    if n == 11 and _MOBILE_RE.fullmatch(d):
        return "mobile", f"{d[:3]}****{d[-4:]}"
    if n in (15, 18) and _is_id_card(d):
        return "id_card", f"{d[:3]}{'*' * (n - 7)}{d[-4:]}"
    if 16 <= n <= 19 and d.isdigit() and luhn_valid(d):
        return "bank_card", f"{d[:4]}{'*' * (n - 8)}{d[-4:]}"
    if _LANDLINE_RE.fullmatch(d):
        # Beijing/Shanghai/Tianjin/Chongqing and 02x cities have 3-digit area codes, the rest 4.
        area = d[:3] if d[1] in "12" else d[:4]
        return "landline", f"{area}-****{d[-4:]}"
    return None


def _char_view(text: str) -> str:
    """Same-length view of `text` with full-width forms folded (１ -> 1, ＠ -> @), so offsets stay aligned."""
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


def _digit(ch: str) -> str | None:
    if "0" <= ch <= "9":
        return ch
    if ch in ("x", "X"):
        return None
    return _CN_DIGITS.get(ch)


class PiiMasker:
    """Finds and masks personal data in one utterance; stateless, safe to share between threads."""

    def mask(self, text: str) -> MaskedText:
        """Return `text` with every detected PII value replaced by its masked form."""
        view = _char_view(text)
        hits = [_Hit("email", m.start(), m.end(), _mask_email(m.group())) for m in _EMAIL_RE.finditer(view)]
        taken = [(h.start, h.end) for h in hits]
        for hit in self._number_hits(view):
            if not any(hit.start < e and s < hit.end for s, e in taken):
                hits.append(hit)
        hits.sort(key=lambda h: h.start)
        parts: list[str] = []
        spans: list[PiiSpan] = []
        pos = 0
        length = 0
        for h in hits:
            parts.append(text[pos : h.start])
            length += h.start - pos
            spans.append(PiiSpan(h.kind, length, length + len(h.replacement)))
            parts.append(h.replacement)
            length += len(h.replacement)
            pos = h.end
        parts.append(text[pos:])
        return MaskedText("".join(parts), tuple(spans))

    def _number_hits(self, view: str) -> list[_Hit]:
        hits: list[_Hit] = []
        i, n = 0, len(view)
        while i < n:
            if _digit(view[i]) is None:
                i += 1
                continue
            # Collect one run: digit positions, with a group break wherever separators occurred.
            positions: list[int] = [i]
            groups: list[int] = [0]
            j = i + 1
            while j < n:
                if _digit(view[j]) is not None:
                    positions.append(j)
                    groups.append(groups[-1])
                    j += 1
                    continue
                k = j
                while k < n and view[k] in _SEPARATORS and k - j < _MAX_SEPARATORS:
                    k += 1
                if k > j and k < n and _digit(view[k]) is not None:
                    positions.append(k)
                    groups.append(groups[-1] + 1)
                    j = k + 1
                    continue
                break
            # A trailing X belongs to an 18-digit ID number.
            if j < n and view[j] in "xX" and len(positions) == 17:
                positions.append(j)
                groups.append(groups[-1])
            hits.extend(self._run_hits(view, positions, groups))
            i = positions[-1] + 1
        return hits

    def _run_hits(self, view: str, positions: list[int], groups: list[int]) -> list[_Hit]:
        """Best non-overlapping PII matches inside one digit run, trying whole separator groups first."""
        digits = "".join(_digit(view[p]) or "X" for p in positions)
        starts = [k for k in range(len(positions)) if k == 0 or groups[k] != groups[k - 1]]
        ends = [k for k in range(1, len(positions) + 1) if k == len(positions) or groups[k] != groups[k - 1]]
        ranges = {(a, b) for a in starts for b in ends if b > a}
        # Spoken digits run into neighbouring words (…五六七八九点前): allow trimming up to two of them.
        for a, b in list(ranges):
            for ta in range(3):
                for tb in range(3):
                    if (
                        (ta or tb)
                        and b - tb - (a + ta) >= 10
                        and self._trimmable(view, positions, a, b, ta, tb)
                    ):
                        ranges.add((a + ta, b - tb))
        hits: list[_Hit] = []
        used: list[tuple[int, int]] = []
        for a, b in sorted(ranges, key=lambda r: (-(r[1] - r[0]), r[0])):
            if b - a < 10 or any(a < ub and ua < b for ua, ub in used):
                continue
            found = _classify(digits[a:b])
            start, end = positions[a], positions[b - 1] + 1
            if found is None or not self._bounded(view, start, end, a, b, len(positions)):
                continue
            if self._after_order_cue(view, start):
                continue
            if found[0] == "mobile" and start >= 1 and view[start - 1] == "+":
                start -= 1
            used.append((a, b))
            hits.append(_Hit(found[0], start, end, found[1]))
        return hits

    @staticmethod
    def _trimmable(view: str, positions: list[int], a: int, b: int, ta: int, tb: int) -> bool:
        cut = [positions[k] for k in range(a, a + ta)] + [positions[k] for k in range(b - tb, b)]
        return all(view[p] in _CN_DIGITS for p in cut)

    @staticmethod
    def _bounded(view: str, start: int, end: int, a: int, b: int, run_len: int) -> bool:
        """Reject numbers glued to letters (SKU-like codes) or cut out of a longer ASCII-digit run."""
        before = view[start - 1] if start > 0 else ""
        after = view[end] if end < len(view) else ""
        if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()):
            return False
        # Inside a longer run only whole separator groups or trimmed spoken digits may be cut off.
        return (a == 0 or before not in "0123456789") and (b == run_len or after not in "0123456789")

    @staticmethod
    def _after_order_cue(view: str, start: int) -> bool:
        window = view[max(0, start - _CUE_WINDOW) : start]
        order_at = max((window.rfind(c) for c in _ORDER_CUES), default=-1)
        if order_at < 0:
            return False
        return not any(c in window[order_at:] for c in _PERSON_CUES)


def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[0]}***@{domain}"


def pii_findings(index: int, masked: MaskedText) -> list[Finding]:
    """One `pii` finding per masked span of utterance `index` (never carries the value itself)."""
    return [
        Finding(
            kind="pii",
            category=span.kind,
            severity=Severity.NONE,
            rule=f"pii:{span.kind}",
            term=None,
            utterance_index=index,
            start=span.start,
            end=span.end,
        )
        for span in masked.spans
    ]
