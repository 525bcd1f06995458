"""Checksummed numbers in text (mobile, landline, ID card, bank card): one scan, bounded windows, linear cost.

Digits may be ASCII, full-width (folded by the caller's view) or spoken (一三八, 幺 = 1, 两 = 2, 零/〇 = 0).
A number may be split into groups the way people and speech recognisers write it: spaces and dashes
(``138 1234 5678``, ``138 - 1234 - 5678``), or a Chinese comma, 、, comma or dot (``138，1234，5678``); the
punctuation separators only join groups of three or more digits, so lists, prices and dates (``1、2、3``,
``12.50``, ``2023.01.15``) never merge into one long number. A candidate is a window of whole groups (spoken
digits at its edges may be trimmed: …五六七八九点) holding at most 19 digits, so every group starts a bounded
number of windows and the scan is linear in the text however the digits and separators are arranged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

CN_DIGITS: dict[str, str] = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3",
                             "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}  # fmt: skip
DIGIT_TABLE = str.maketrans(CN_DIGITS)  # same-length view with spoken digits read as ASCII ones
_GROUP_RE = re.compile("[0-9" + "".join(CN_DIGITS) + "]+")
# Between two groups: one or two spaces, or one dash (two for "--") or punctuation mark with a space either side.
_GAP_RE = re.compile(
    r"[ \t\u3000]{1,2}|[ \t\u3000]?(?:[-\u2010\u2011\u2013\u2014\u2212]{1,2}|[.,，、)）])[ \t\u3000]?"
)
_MAX_GAP = 5
_WEAK_SEPARATORS = frozenset(".,，、")
_MIN_WEAK_GROUP = 3  # 138，1234，5678 joins; 1、2、3 and 12.50 do not
_MIN_DIGITS = 10  # landline with area code
_MAX_DIGITS = 19  # bank card
_MAX_TRIM = 2  # spoken digits running into the next word: 手机一三八…五六七八九点前
_ID_X = "xX叉"
# The lengths a valid number can have, by its first digit (17: an ID number whose X follows the digits).
_CARD_LENGTHS = (15, 16, 17, 18, 19)
_LENGTHS: dict[str, tuple[int, ...]] = {
    "0": (10, 11, 12, 15),  # landline, 0 + mobile, 0086 + mobile
    "1": (11, 15, 17, 18),  # mobile, ID (provinces 11-15)
    "2": (15, 17, 18),
    "7": (15, 17, 18),
    "8": (13, *_CARD_LENGTHS),  # 86 + mobile
    **dict.fromkeys("34569", _CARD_LENGTHS),
}
_MOBILE_RE = re.compile(r"1[3-9]\d{9}")
_LANDLINE_RE = re.compile(r"0[1-9]\d{8,10}")
# Province codes of resident ID numbers (GB/T 2260 first two digits): cuts random 18-digit false positives.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 91".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_CARD_FIRST_DIGITS = frozenset("345689")  # JCB/Amex 3, Visa 4, Mastercard 5, UnionPay 6 (62…), old 9558…
# A number right after these words is an order/waybill/SKU number, not a person's data.
_ORDER_CUES = ("订单", "单号", "运单", "编号", "工单", "货号", "型号", "sku", "SKU", "条码")
_PERSON_CUES = ("电话", "手机", "号码", "联系", "身份证", "卡号", "银行卡", "打给")
_CUE_WINDOW = 8
# Letters that may be glued to a number that is still a person's number (wx13812345678); any other letters
# make it a code (SN13812345678).
_GLUED_CUES = frozenset(
    ("wx", "vx", "v", "weixin", "wechat", "qq", "q", "tel", "phone", "mobile", "mob", "cell")
)
_MAX_GLUED = 6


@dataclass(frozen=True, slots=True)
class Hit:
    """One value to mask: [start, end) in the ORIGINAL text, and its replacement."""

    kind: str
    start: int
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


def classify(d: str) -> tuple[str, str] | None:
    """(kind, masked form) for a digit string (an ID may end in X), or None when it is not PII."""
    n = len(d)
    if n == 15 and d.startswith("0086") and _MOBILE_RE.fullmatch(d[4:]):
        d, n = d[4:], 11
    if n == 13 and d.startswith("86") and _MOBILE_RE.fullmatch(d[2:]):
        d, n = d[2:], 11
    if n == 12 and d.startswith("0") and _MOBILE_RE.fullmatch(d[1:]):
        d, n = d[1:], 11
    if n == 11 and _MOBILE_RE.fullmatch(d):
        return "mobile", f"{d[:3]}****{d[-4:]}"
    if n in (15, 18) and _is_id_card(d):
        return "id_card", f"{d[:3]}{'*' * (n - 7)}{d[-4:]}"
    if 16 <= n <= 19 and d[0] in _CARD_FIRST_DIGITS and d.isdigit() and luhn_valid(d):
        return "bank_card", f"{d[:4]}{'*' * (n - 8)}{d[-4:]}"
    if _LANDLINE_RE.fullmatch(d):
        # Beijing/Shanghai/Tianjin/Chongqing and 02x cities have 3-digit area codes, the rest 4.
        area = d[:3] if d[1] in "12" else d[:4]
        return "landline", f"{area}-****{d[-4:]}"
    return None


def _spoken(view: str, start: int, end: int) -> bool:
    return all(ch in CN_DIGITS for ch in view[start:end])


def _runs(view: str) -> list[list[tuple[int, int]]]:
    """Digit groups, as (start, end) in `view`, gathered into runs of groups joined by separators."""
    runs: list[list[tuple[int, int]]] = []
    run: list[tuple[int, int]] = []
    for m in _GROUP_RE.finditer(view):
        start, end = m.span()
        if run:
            prev_start, prev_end = run[-1]
            gap = _GAP_RE.fullmatch(view, prev_end, start) if start - prev_end <= _MAX_GAP else None
            if gap is not None and not _WEAK_SEPARATORS.isdisjoint(gap.group()):
                if prev_end - prev_start < _MIN_WEAK_GROUP or end - start < _MIN_WEAK_GROUP:
                    gap = None
            if gap is None:
                runs.append(run)
                run = []
        run.append((start, end))
    if run:
        runs.append(run)
    return runs


class NumberScanner:
    """Finds checksummed personal numbers; stateless, safe to share between threads."""

    def hits(self, view: str, taken: bytearray) -> list[Hit]:
        """Valid numbers in `view` (full-width already folded) that do not overlap `taken`; marks them taken."""
        digits = view.translate(DIGIT_TABLE)
        found: list[Hit] = []
        for run in _runs(view):
            found.extend(self._run_hits(view, digits, run, taken))
        return found

    def _run_hits(self, view: str, digits: str, run: list[tuple[int, int]], taken: bytearray) -> list[Hit]:
        """Longest valid windows first (leftmost on ties), never overlapping each other or `taken`."""
        # Only windows that validate are kept, so memory follows the number of real candidates, not windows.
        valid = self._valid_windows(view, "".join(digits[s:e] for s, e in run), run)
        valid.sort()
        hits: list[Hit] = []
        for _, start, end, kind, replacement in valid:
            if taken.find(1, start, end) != -1:
                continue
            if kind == "mobile" and start >= 1 and view[start - 1] == "+" and not taken[start - 1]:
                start -= 1
            taken[start:end] = b"\x01" * (end - start)
            hits.append(Hit(kind, start, end, replacement))
        return hits

    def _valid_windows(
        self, view: str, body: str, run: list[tuple[int, int]]
    ) -> list[tuple[int, int, int, str, str]]:
        """(-digits, start, end, kind, masked) of every window of whole groups that validates.

        A window starts at a group (or up to two spoken digits into it) and ends at a group end (or up to two
        spoken digits before it); its first digit fixes the few lengths a valid number can have, so each group
        tries at most a handful of windows.
        """
        ends: dict[int, int] = {}  # offset in `body` just past a group -> that group
        offset = 0
        for index, (start, end) in enumerate(run):
            offset += end - start
            ends[offset] = index
        out: list[tuple[int, int, int, str, str]] = []
        offset = 0
        for first_start, first_end in run:
            size = first_end - first_start
            for head in range(min(_MAX_TRIM, size - 1) + 1):
                if head and view[first_start + head - 1] not in CN_DIGITS:
                    break
                a = offset + head
                for n in _LENGTHS.get(body[a], ()):
                    for tail in range(_MAX_TRIM + 1):
                        last = ends.get(a + n + tail)
                        if last is None:
                            continue
                        last_start, last_end = run[last]
                        if tail and (
                            tail >= last_end - last_start or not _spoken(view, last_end - tail, last_end)
                        ):
                            continue
                        window = self._window(view, body[a : a + n], first_start + head, last_end - tail)
                        if window is not None:
                            out.append(window)
            offset += size
        return out

    def _window(self, view: str, d: str, start: int, end: int) -> tuple[int, int, int, str, str] | None:
        if len(d) == 17:  # only as an ID number whose check character X follows
            if end >= len(view) or view[end] not in _ID_X:
                return None
            d, end = d + "X", end + 1
        found = classify(d)
        if found is None or not self._bounded(view, start, end) or self._after_order_cue(view, start):
            return None
        return (-len(d), start, end, found[0], found[1])

    @staticmethod
    def _bounded(view: str, start: int, end: int) -> bool:
        """Reject numbers glued to letters (SKU-like codes), unless the letters are a contact cue (wx, QQ, tel)."""
        after = view[end] if end < len(view) else ""
        if after.isascii() and after.isalnum():
            return False
        k = start
        while k > 0 and start - k <= _MAX_GLUED and view[k - 1].isascii() and view[k - 1].isalpha():
            k -= 1
        if k == start:
            return True
        if k > 0 and view[k - 1].isascii() and view[k - 1].isalnum():
            return False  # a letter run longer than any cue, or glued to more digits
        return view[k:start].lower() in _GLUED_CUES

    @staticmethod
    def _after_order_cue(view: str, start: int) -> bool:
        window = view[max(0, start - _CUE_WINDOW) : start]
        order_at = max((window.rfind(c) for c in _ORDER_CUES), default=-1)
        if order_at < 0:
            return False
        return not any(c in window[order_at:] for c in _PERSON_CUES)
