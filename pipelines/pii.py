"""PII masking: phones, ID cards, bank cards, e-mail, WeChat and QQ ids in Chinese chat and call transcripts.

Masked forms keep the shape a reviewer needs and nothing that identifies the person:

====================  ==========================  =====================================
kind                  example input               masked output
====================  ==========================  =====================================
``mobile``            138 1234 5678 / 一三八…      ``138****5678``
``landline``          010-12345678                ``010-****5678``
``id_card``           11010519491231002X          ``110***********002X`` (15-digit: ``110********123``)
``bank_card``         6222 0212 3456 7890 128     ``6222***********0128`` (one ``*`` per hidden digit)
``email``             zhang.san@example.com       ``z***@example.com``
``wechat``            微信号 zhang_san88           ``微信号 z***8`` (only after a cue word)
``qq``                QQ 123456789 / 扣扣幺二三…    ``QQ 12*****89`` (only after a cue word)
====================  ==========================  =====================================

Spoken and full-width digits (一三八…, 幺 = 1, 两 = 2, 零/〇 = 0, １３８…) are read as digits; the kept digits
are written as ASCII. Separators inside a number (space, dash, and between groups of 3+ digits also ，、,.) are
swallowed by the mask. Numbers are only masked when they validate (mobile prefix 1[3-9], ID MOD 11-2 check
digit and birth date, bank card Luhn), so prices, dates, quantities, order numbers, 12315/400 hotlines and
JDDC placeholders ([数字x], [电话x]) are left alone (`evaluation/eval_pii.py` measures both sides). Masking is
idempotent: masked text contains no digit run long enough to match again. Every pass is linear in the text
(`benchmarks/bench_cost.py`): e-mail addresses from each @ within RFC length limits, numbers in bounded windows
(`pipelines/pii_numbers.py`), ids from each cue word (`pipelines/pii_accounts.py`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from pipelines.pii_accounts import AccountScanner
from pipelines.pii_numbers import Hit, NumberScanner, id_check_digit, luhn_valid
from pipelines.types import Finding, Severity

__all__ = ["PII_KINDS", "MaskedText", "PiiMasker", "PiiSpan", "id_check_digit", "luhn_valid", "pii_findings"]

PII_KINDS: tuple[str, ...] = ("mobile", "landline", "id_card", "bank_card", "email", "wechat", "qq")

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_MAX_LOCAL = 64  # RFC 5321 limits: bounded look-around from each @ keeps "aaaa…" and "a@a@a@…" linear
_MAX_DOMAIN = 255
_DOMAIN_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One masked region; offsets are [start, end) in the MASKED text.

    `source_start`/`source_end` are where the value lay in the ORIGINAL text (what audio redaction needs);
    they take no part in equality, so spans built from masked offsets alone still compare equal.
    """

    kind: str
    start: int
    end: int
    source_start: int | None = field(default=None, compare=False)
    source_end: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class MaskedText:
    """Text with PII replaced by masks, and where each mask lies in it."""

    text: str
    spans: tuple[PiiSpan, ...]


class _WidthFold(dict[int, str]):
    """`str.translate` table folding full-width forms (１ -> 1, ＠ -> @) one character to one, filled on first use."""

    def __missing__(self, key: int) -> str:
        char = chr(key)
        folded = unicodedata.normalize("NFKC", char)
        mapped = folded if len(folded) == 1 else char
        self[key] = (
            mapped  # bounded by the number of distinct characters; a racing duplicate write is harmless
        )
        return mapped


_WIDTH_FOLD = _WidthFold()


def _char_view(text: str) -> str:
    """Same-length view of `text` with full-width forms folded, so offsets stay aligned."""
    return text.translate(_WIDTH_FOLD)


def _email_hits(view: str, taken: bytearray) -> list[Hit]:
    hits: list[Hit] = []
    last_end = 0
    at = view.find("@")
    while at != -1:
        domain = _DOMAIN_RE.match(view, at + 1, min(len(view), at + 1 + _MAX_DOMAIN))
        start = at
        if domain is not None:
            floor = max(last_end, at - _MAX_LOCAL)
            while start > floor and view[start - 1] in _LOCAL_CHARS:
                start -= 1
            while start < at and not (view[start].isascii() and view[start].isalnum()):
                start += 1  # the address starts with a letter or digit
        if domain is None or start == at:
            at = view.find("@", at + 1)
            continue
        end = domain.end()
        taken[start:end] = b"\x01" * (end - start)
        hits.append(Hit("email", start, end, _mask_email(view[start:end])))
        last_end = end
        at = view.find("@", end)
    return hits


class PiiMasker:
    """Finds and masks personal data in one utterance; stateless, safe to share between threads."""

    def __init__(self) -> None:
        self._numbers = NumberScanner()
        self._accounts = AccountScanner()

    def mask(self, text: str) -> MaskedText:
        """Return `text` with every detected PII value replaced by its masked form."""
        view = _char_view(text)
        taken = bytearray(len(view))  # e-mail first, then checksummed numbers, then cue-word ids
        hits = _email_hits(view, taken)
        hits.extend(self._numbers.hits(view, taken))
        hits.extend(self._accounts.hits(view, taken))
        hits.sort(key=lambda h: h.start)
        parts: list[str] = []
        spans: list[PiiSpan] = []
        pos = 0
        length = 0
        for h in hits:
            parts.append(text[pos : h.start])
            length += h.start - pos
            spans.append(PiiSpan(h.kind, length, length + len(h.replacement), h.start, h.end))
            parts.append(h.replacement)
            length += len(h.replacement)
            pos = h.end
        parts.append(text[pos:])
        return MaskedText("".join(parts), tuple(spans))


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
