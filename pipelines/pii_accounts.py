"""WeChat and QQ ids: not checksummed, so only masked right after a cue word (微信号, vx, QQ, 扣扣…).

``微信号：zhang_san88`` → ``微信号：z***8``; ``扣扣幺二三四五六七八九`` → ``扣扣12*****89``. Between the cue and the
id only filler may stand (spaces, ：, 是, 号, 为, ID…, at most six characters), and the id must end where the
word ends, so 微信支付 200 元 or QQ群 are left alone. A phone number given as a WeChat id was already masked
as a mobile by the number scanner, which runs first. Every cue is looked at once and every id is at most 20
characters, so the cost is linear in the text.
"""

from __future__ import annotations

import re

from pipelines.pii_numbers import DIGIT_TABLE, Hit

_WECHAT_CUES = ("微信", "威信", "薇信", "徽信", "维信", "v信", "vx", "wx", "weixin", "wechat", "加v", "加微")
_QQ_CUES = ("qq", "扣扣", "企鹅号", "q号")
_CUE_RE = re.compile(
    "|".join(re.escape(c) for c in sorted((*_WECHAT_CUES, *_QQ_CUES), key=len, reverse=True)), re.IGNORECASE
)
_QQ_CUE_SET = frozenset(_QQ_CUES)
_FILLER = frozenset(" \t\u3000:：,，、=是号为叫账名码就也-—")
_FILLER_WORDS = ("id", "ID", "Id")
_MAX_FILLER = 6
# WeChat's own rule: 6-20 letters, digits, _ or -, starting with a letter; numeric ids are QQ numbers or phones.
_WECHAT_ID_RE = re.compile(r"[A-Za-z][-_A-Za-z0-9]{5,19}")
_NUMERIC_ID_RE = re.compile(r"[1-9](?:[ -]?[0-9]){4,10}")
_ID_CHAR = re.compile(r"[-_A-Za-z0-9]")


def _mask_word(value: str) -> str:
    return f"{value[0]}***{value[-1]}"


def _mask_digits(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    keep = 2 if len(digits) >= 8 else 1
    return f"{digits[:keep]}{'*' * (len(digits) - 2 * keep)}{digits[-keep:]}"


class AccountScanner:
    """Finds WeChat and QQ ids after their cue words; stateless, safe to share between threads."""

    def hits(self, view: str, taken: bytearray) -> list[Hit]:
        """Ids in `view` that do not overlap `taken`; marks them taken."""
        digits = view.translate(DIGIT_TABLE)  # 扣扣幺二三… reads as digits, offsets unchanged
        found: list[Hit] = []
        for cue in _CUE_RE.finditer(view):
            start = cue.start()
            word = cue.group()
            if word.isascii() and start > 0 and view[start - 1].isascii() and view[start - 1].isalnum():
                continue  # the letters of a longer word (twx, iqq)
            hit = self._value(view, digits, cue.end(), "qq" if word.lower() in _QQ_CUE_SET else "wechat")
            if hit is not None and taken.find(1, hit.start, hit.end) == -1:
                taken[hit.start : hit.end] = b"\x01" * (hit.end - hit.start)
                found.append(hit)
        return found

    @staticmethod
    def _value(view: str, digits: str, pos: int, kind: str) -> Hit | None:
        """The id right after a cue ending at `pos` (past any filler), or None."""
        stop = min(len(view), pos + _MAX_FILLER)
        while pos < stop:
            if view[pos] in _FILLER:
                pos += 1
            elif view.startswith(_FILLER_WORDS, pos):
                pos += 2
            else:
                break
        source = digits
        match = _NUMERIC_ID_RE.match(digits, pos)
        if match is None and kind == "wechat":
            source, match = view, _WECHAT_ID_RE.match(view, pos)
        if match is None or _ID_CHAR.match(source, match.end()):
            return None
        value = match.group()
        masked = _mask_digits(value) if value[0].isdigit() else _mask_word(value)
        return Hit(kind, match.start(), match.end(), masked)
