"""Text normalisation for matching: width, script, case and separator noise, with offsets back to the original."""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from typing import Any

import opencc

# Kept (as themselves) so that a term cannot be matched across two sentences; everything else that is
# punctuation, a symbol, a space or a control/format character is dropped, which defeats 投 诉 / 投*诉 / 傻@逼.
SENTENCE_BOUNDARIES: frozenset[str] = frozenset("。！？；!?;\n\r…")

# Characters outside the P/S/Z/C categories that evaders use as a visual dot between letters (Arabic-Indic
# zeros look like "·"); treated as separator noise rather than as digits.
_DOT_LOOKALIKES: frozenset[str] = frozenset("\u0660\u06f0")

_DROPPED_CATEGORY_PREFIXES: tuple[str, ...] = ("P", "S", "Z", "C", "M")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalised text plus, for every normalised character, the index of the original character it came from."""

    text: str
    offsets: tuple[int, ...]  # offsets[i] = index in the ORIGINAL string of normalised char i

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a normalised [start, end) span to the original [s, e) span that produced it."""
        if not 0 <= start <= end <= len(self.offsets):
            raise ValueError(f"span [{start}, {end}) outside normalised text of length {len(self.offsets)}")
        if start == end:
            # An empty span sits just after the previous character; only reachable for degenerate calls.
            if start < len(self.offsets):
                return self.offsets[start], self.offsets[start]
            position = self.offsets[-1] + 1 if self.offsets else 0
            return position, position
        return self.offsets[start], self.offsets[end - 1] + 1

    def gap_before(self, index: int) -> bool:
        """True when original characters were dropped right before normalised char `index` (a removed separator)."""
        if index <= 0 or index >= len(self.offsets):
            return False
        return self.offsets[index] - self.offsets[index - 1] > 1


class _TranslationTable(dict[int, str]):
    """`str.translate` table that maps a character it has not seen yet on first lookup.

    `str.translate` looks characters up with `__getitem__`, so `__missing__` lets one C-level pass both fill the
    cache and fold the text; a separate "which characters are new" pass cost twice as much as folding itself.
    """

    __slots__ = ("_map_char",)

    def __init__(self, map_char: Callable[[str], str]) -> None:
        super().__init__()
        self._map_char = map_char

    def __missing__(self, key: int) -> str:
        return self._map_char(chr(key))


class Normalizer:
    """Folds text for lexicon matching: NFKC width folding, traditional→simplified, case folding, noise removal.

    Every step works one original character at a time (a character may become zero, one or several
    characters), so each output character knows which original character it came from. OpenCC's phrase
    conversion is deliberately not used: it can merge or split characters, and the lexicon terms go through
    the same per-character mapping, so matching stays consistent.
    """

    def __init__(self, *, traditional_to_simplified: bool = True) -> None:
        self._converter: Any = opencc.OpenCC("t2s") if traditional_to_simplified else None
        self._cache: dict[str, str] = {}
        # Derived from the cache so that the common case runs in C: str.translate for the text and
        # itertools.compress for the offsets. Only characters that expand (ﬁ, ㈱) need the Python loop.
        self._table = _TranslationTable(self._map_char)
        self._kept: set[str] = set()
        self._expanding: set[str] = set()
        self._lock = threading.Lock()

    @property
    def traditional_to_simplified(self) -> bool:
        """Whether traditional characters are folded to simplified ones."""
        return self._converter is not None

    def __call__(self, text: str) -> NormalizedText:
        """Normalise `text`, keeping a map from every output character to its original index."""
        folded = text.translate(self._table)  # also maps every character not seen before
        if not self._expanding or self._expanding.isdisjoint(text):
            offsets = tuple(compress(range(len(text)), map(self._kept.__contains__, text)))
            return NormalizedText(text=folded, offsets=offsets)
        cache = self._cache
        chars: list[str] = []
        offset_list: list[int] = []
        for index, char in enumerate(text):
            mapped = cache[char]
            chars.append(mapped)
            offset_list.extend([index] * len(mapped))
        return NormalizedText(text="".join(chars), offsets=tuple(offset_list))

    def fold(self, text: str) -> str:
        """Normalised string only, without the offset map (same text as `self(text).text`, several times cheaper)."""
        return text.translate(self._table)

    def _map_char(self, char: str) -> str:
        result: list[str] = []
        if char in SENTENCE_BOUNDARIES:
            # Checked before NFKC because NFKC turns "…" into "...", which would otherwise be dropped;
            # single-character forms are still width-folded ("！" -> "!").
            folded_boundary = unicodedata.normalize("NFKC", char)
            result.append(folded_boundary if len(folded_boundary) == 1 else char)
        elif char not in _DOT_LOOKALIKES:
            for piece in unicodedata.normalize("NFKC", char):
                for folded in piece.casefold():
                    if folded in SENTENCE_BOUNDARIES:
                        result.append(folded)
                    elif not unicodedata.category(folded).startswith(_DROPPED_CATEGORY_PREFIXES):
                        result.append(self._to_simplified(folded))
        mapped = "".join(result)
        with self._lock:
            # Bounded by the number of distinct characters ever seen, so the cache cannot grow without limit.
            # The table entry is written last: a reader whose `translate` finds it also finds the derived sets.
            if len(mapped) == 1:
                self._kept.add(char)
            elif mapped:
                self._expanding.add(char)
            self._cache[char] = mapped
            self._table[ord(char)] = mapped
        return mapped

    def _to_simplified(self, char: str) -> str:
        if self._converter is None or char.isascii():
            return char
        converted: str = self._converter.convert(char)
        return converted
