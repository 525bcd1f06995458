"""Evasion-proof spellings of lexicon terms: pinyin, initials, homophones, spoken numerals, look-alikes, splits.

Every pass works on the normaliser's folded text and reports spans in folded coordinates, so the matcher maps
them back to the original text through the same offset map as exact hits.

- phonetic: each CJK character of the text becomes its toneless pinyin (沙比 → shabi), Latin letters stay;
  a term matches through its pinyin, initials or mixed spellings (shabi, sb, 傻b) precomputed at load. A match
  must start and end on a character boundary (a CJK syllable or a whole Latin word).
- numeral: spoken digits become digits one for one (幺二三一五, 一23一5 → 12315).
- look-alike: inside a Latin word that also holds digits, digits that look like letters become them (sh1t).
- split: a character written as its two components (女马 → 妈, 亻尔 → 你) is joined back.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import jieba
from pypinyin import Style, lazy_pinyin

Variant = Literal["exact", "pinyin", "initials", "homophone", "numeral", "regex", "split", "lookalike"]
VARIANTS: tuple[Variant, ...] = (
    "exact",
    "pinyin",
    "initials",
    "homophone",
    "numeral",
    "regex",
    "split",
    "lookalike",
)

# Spoken and written Chinese digits, one character each, so the folded offsets stay valid.
NUMERALS: dict[str, str] = dict(zip("零〇一二三四五六七八九幺两", "0012345678912", strict=True))

# Digits written for the letter they look like, inside a Latin word (sh1t, b1tch, 5b); 1 is also l (1sd).
LOOKALIKES: dict[str, str] = dict(zip("013457", "oieast", strict=True))
_ONE_AS_L = str.maketrans({**LOOKALIKES, "1": "l"})

# Characters written as their two components (偏旁拆字). Only characters that occur in lexicon terms and whose
# split is seen in practice; joining is safe because a pair only matters when it completes a term.
SPLITS: dict[str, str] = {
    "女马": "妈",
    "亻尔": "你",
    "亻也": "他",
    "女也": "她",
    "扌喿": "操",
    "犭句": "狗",
    "歹匕": "死",
    "白勺": "的",
    "弓虽": "强",
    "女干": "奸",
    "氵昆": "混",
    "贝戋": "贱",
    "月却": "脚",
    "尸从": "怂",
    "女表": "婊",
}

# A homophone hit that holds a common dictionary word (出生 for 畜生, 制度 for 制毒, 身份 in 示身份 for 失身粉)
# is ordinary text, not an evasion. Threshold: jieba's frequency; 煞笔 (3) and 沙比 (6) stay matchable.
COMMON_WORD_MIN_FREQ = 50

_MAX_FORMS = 243  # every mixture up to five characters; longer spellings change at most two (or all)
# Linear on purpose: a pattern with a leading [a-z0-9]* would retry from every start of a long Latin run.
_MIXED = re.compile(r"[a-z][0-9]|[0-9][a-z]")
_LATIN_RUN = re.compile(r"[a-z0-9]+")


def is_cjk(char: str) -> bool:
    """Whether `char` is a CJK unified ideograph (the characters pinyin exists for)."""
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def _is_ascii_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


class _ReadingTable(dict[int, str]):
    """`str.translate` table: a CJK character → its default toneless pinyin, filled on first lookup."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def __missing__(self, key: int) -> str:
        char = chr(key)
        reading = lazy_pinyin(char)[0].upper() if is_cjk(char) else char
        if not reading.isascii():  # a character pypinyin has no reading for stays itself
            reading = char
        with self._lock:
            self[key] = reading
        return reading


_READINGS = _ReadingTable()


def to_phonetic(folded: str) -> str:
    """Folded text with every CJK character replaced by its default toneless pinyin in capitals (沙比 → SHABI).

    Capitals keep a syllable said in characters apart from pinyin typed in Latin letters (folded text is lower
    case), so a typed form (傻b → SHAb) never matches across the syllables of ordinary Chinese text.
    """
    return folded.translate(_READINGS)


def syllable_options(spelling: str) -> list[tuple[str, ...]]:
    """Readings per character of a folded spelling: in-context and default pinyin for CJK, the char otherwise."""
    in_context = iter(lazy_pinyin("".join(filter(is_cjk, spelling)), style=Style.NORMAL))
    options: list[tuple[str, ...]] = []
    for char in spelling:
        if is_cjk(char):
            reading = next(in_context, "")
            default = to_phonetic(char).lower()
            options.append(tuple(r for r in dict.fromkeys((reading, default)) if r.isascii() and r))
        else:
            options.append((char,))
    return options


@dataclass(frozen=True, slots=True)
class PhoneticForm:
    """One sound-based spelling of a term; `typed` when some syllable is pinyin in Latin letters, `initials`
    when some syllable is cut to its first letter; neither means a homophone written in characters."""

    text: str
    typed: bool
    initials: bool


@functools.lru_cache(maxsize=8192)  # a reload rebuilds mostly the same spellings
def phonetic_forms(
    spelling: str, *, pinyin: bool, initials: bool, homophones: bool
) -> tuple[PhoneticForm, ...]:
    """Pinyin, initials, mixed and homophone spellings of a folded spelling with at least two CJK characters.

    Per CJK character: its reading in capitals (the character itself or one that sounds the same), the
    reading typed in Latin letters, or its initial; other characters stay. 傻逼 gives SHABI (沙比), shabi,
    SHAbi (傻bi), SHAb (傻b), sb, … Spellings of six or more characters mix at most two characters.
    """
    options = syllable_options(spelling)
    cjk = {index for index, char in enumerate(spelling) if is_cjk(char)}
    if len(cjk) < 2:
        return ()  # one syllable sounds like far too many ordinary words
    choices: list[list[tuple[str, int]]] = []  # (piece, 0 character | 1 typed | 2 initial)
    for index, readings in enumerate(options):
        if index not in cjk:
            choices.append([(readings[0], 0)])
            continue
        choice = [(reading.upper(), 0) for reading in readings]
        if pinyin:
            choice += [(reading, 1) for reading in readings]
        if pinyin and initials:
            choice += [(letter, 2) for letter in dict.fromkeys(r[0] for r in readings)]
        choices.append(choice)
    total = 1
    for choice in choices:
        total *= len(choice)
    combos: Iterable[tuple[tuple[str, int], ...]] = (
        itertools.product(*choices) if total <= _MAX_FORMS else _few_changes(choices, sorted(cjk))
    )
    forms: dict[str, PhoneticForm] = {}
    for combo in combos:
        kinds = {kind for _, kind in combo}
        typed = bool(kinds - {0})
        if not typed and not homophones:
            continue
        text = "".join(piece for piece, _ in combo)
        if text not in forms or (
            forms[text].initials and 2 not in kinds
        ):  # reachable without initials: pinyin
            forms[text] = PhoneticForm(text, typed, 2 in kinds)
    return tuple(forms.values())


def _few_changes(
    choices: list[list[tuple[str, int]]], cjk: list[int], limit: int = 2
) -> Iterator[tuple[tuple[str, int], ...]]:
    """Mixtures of a long spelling: at most `limit` characters typed or cut, or all of them in one way."""
    plain = [[c for c in choice if c[1] == 0] for choice in choices]
    changed = [[c for c in choice if c[1] != 0] for choice in choices]
    for count in range(limit + 1):
        for positions in itertools.combinations(cjk, count):
            yield from itertools.product(
                *[changed[i] if i in positions else plain[i] for i in range(len(choices))]
            )
    for kind in (1, 2):
        pure = [[c for c in choice if c[1] == kind] for choice in choices]
        if all(pure[i] for i in cjk):
            yield from itertools.product(*[pure[i] if i in cjk else plain[i] for i in range(len(choices))])


@dataclass(frozen=True, slots=True)
class PhoneticText:
    """Phonetic text with, per phonetic character, the folded index it came from."""

    text: str
    source: tuple[int, ...]

    def at_unit_boundary(self, position: int, folded: str, gap_before: Callable[[int], bool]) -> bool:
        """Whether a match may start or end at `position`: between two characters, not inside a Latin word."""
        if position <= 0 or position >= len(self.source):
            return True
        left, right = self.source[position - 1], self.source[position]
        if left == right:
            return False  # inside one CJK character's syllable
        if _is_ascii_word(folded[left]) and _is_ascii_word(folded[right]):
            return gap_before(right)  # a removed separator splits a Latin word
        return True


def build_phonetic(folded: str) -> PhoneticText:
    """The phonetic text of `folded` with its source map (built only when the phonetic scan found something)."""
    pieces = [char.translate(_READINGS) for char in folded]
    source = tuple(index for index, piece in enumerate(pieces) for _ in piece)
    return PhoneticText("".join(pieces), source)


_NUMERAL_TABLE = str.maketrans(NUMERALS)
_LOOKALIKE_TABLE = str.maketrans(LOOKALIKES)


_NUMERAL_RUN = re.compile(f"[0-9{''.join(NUMERALS)}]{{3}}")


def numeral_text(folded: str) -> str:
    """Spoken digits replaced by digits, one character for one (一二三幺五 → 12315)."""
    return folded.translate(_NUMERAL_TABLE)


def has_numeral_run(folded: str) -> bool:
    """Whether three digits or spoken digits stand in a row (the shortest number in the lexicon is 315)."""
    return _NUMERAL_RUN.search(folded) is not None


def lookalike_texts(folded: str) -> list[str]:
    """Rewrites of `folded` with digits inside mixed Latin words read as letters (sh1t → shit, 1sd → lsd)."""
    if _MIXED.search(folded) is None:
        return []
    tables = [_LOOKALIKE_TABLE, _ONE_AS_L] if "1" in folded else [_LOOKALIKE_TABLE]
    return [_LATIN_RUN.sub(functools.partial(_read_as_letters, table=table), folded) for table in tables]


def _read_as_letters(match: re.Match[str], table: dict[int, str]) -> str:
    """A Latin run with look-alike digits read as letters, if it holds both letters and digits."""
    run = match.group()
    if run.isdigit() or run.isalpha():
        return run
    return run.translate(table)


_SPLIT_PATTERN = re.compile("|".join(map(re.escape, SPLITS)))


def join_splits(folded: str) -> tuple[str, tuple[int, ...]] | None:
    """Split characters joined back (女马 → 妈) and, per joined character, its first folded index; None if none."""
    if _SPLIT_PATTERN.search(folded) is None:
        return None
    chars: list[str] = []
    source: list[int] = []
    position = 0
    for match in _SPLIT_PATTERN.finditer(folded):
        for index in range(position, match.start()):
            chars.append(folded[index])
            source.append(index)
        chars.append(SPLITS[match.group()])
        source.append(match.start())
        position = match.end()
    for index in range(position, len(folded)):
        chars.append(folded[index])
        source.append(index)
    return "".join(chars), tuple(source)


@functools.lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """jieba's common dictionary words of 2–4 CJK characters (frequency ≥ COMMON_WORD_MIN_FREQ); read once."""
    words: set[str] = set()
    with jieba.get_dict_file() as handle:
        for raw in handle:
            word, freq, *_ = raw.decode("utf-8").split(" ")
            if 2 <= len(word) <= 4 and int(freq) >= COMMON_WORD_MIN_FREQ and all(map(is_cjk, word)):
                words.add(word)
    return frozenset(words)


def ordinary_words(span: str, own: frozenset[str]) -> bool:
    """Whether a sound-alike `span` holds a common word made with a character not of the term (`own`).

    出生 for 畜生, 示身份 for 失身粉 (身份), 大码也 for 大麻叶 (大码): ordinary words that happen to sound like
    a term; 他吗的 and 煞笔 hold none.
    """
    common = common_words()
    return any(
        word in common and not own.issuperset(word)
        for size in range(2, min(4, len(span)) + 1)
        for word in (span[i : i + size] for i in range(len(span) - size + 1))
    )


def keeps_a_char(span: str, spellings: frozenset[str]) -> bool:
    """A homophone of three or more characters keeps one of the term's own (他吗的; 是食材 is not 时时彩)."""
    if len(span) < 3:
        return True
    return any(
        a == b
        for spelling in spellings
        if len(spelling) == len(span)
        for a, b in zip(span, spelling, strict=True)
    )
