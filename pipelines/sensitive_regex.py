"""Regular-expression rules of the sensitive-word lexicon, run by RE2 (linear time, no backtracking).

A rule is written against the normalised text (simplified, lower case, spaces and punctuation removed, sentence
ends kept), so `再.{0,4}不.{0,6}就.{0,4}投诉` also matches 再 不 退 款 就 投 訴. A match never crosses a sentence
end. What RE2 cannot run in linear time (back-references, look-around) or in bounded memory (huge counted
repetitions) is refused when the lexicon loads, as is a pattern that can match the empty string.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import re2

from pipelines.normalize import SENTENCE_BOUNDARIES

MAX_PATTERN_CHARS = 300
_MAX_MEM = 8 << 20  # bytes of compiled program per rule; {1000}-style blow-ups fail to compile instead
_SENTENCE_TABLE = str.maketrans(dict.fromkeys(SENTENCE_BOUNDARIES, "\n"))
# Python's own parser reads the rule's structure for the prefilter below (never to match: RE2 does that).
_PARSER: Any = importlib.import_module("re._parser")
_CASE_FLAG = re.compile(r"\(\?[a-zA-Z]*i")


class RegexRuleError(ValueError):
    """A rule RE2 refuses, or one that could never be a useful rule (empty match, too long)."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.never_nl = True  # a match never spans a sentence end (mapped to "\n" below)
    options.max_mem = _MAX_MEM
    return options


class RegexRule:
    """One compiled rule; `finditer` yields (start, end) spans in the normalised text."""

    __slots__ = ("_compiled", "_filters", "pattern")

    def __init__(self, pattern: str) -> None:
        if not pattern or len(pattern) > MAX_PATTERN_CHARS:
            raise RegexRuleError(f"regex must have 1–{MAX_PATTERN_CHARS} characters, got {len(pattern)}")
        try:
            self._compiled: Any = re2.compile(pattern, _options())
        except re2.error as exc:
            message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise RegexRuleError(f"regex {pattern!r} refused by RE2 (linear-time engine): {message}") from exc
        if self._compiled.fullmatch("") is not None:
            raise RegexRuleError(f"regex {pattern!r} matches the empty string, so it would match every text")
        self.pattern = pattern
        required = required_characters(pattern)
        # One character-class search per set (linear, C speed), the last element first: it is usually the
        # most specific (投诉 after 再…不…就).
        self._filters = tuple(
            re.compile("[" + "".join(map(re.escape, sorted(chars))) + "]").search
            for chars in reversed(required or ())
        )

    def may_match(self, folded: str) -> bool:
        """False when the text lacks a character every match needs (most text: the rule then costs no RE2 call)."""
        return all(search(folded) is not None for search in self._filters)

    def finditer(self, folded: str) -> Iterator[tuple[int, int]]:
        """Non-overlapping match spans in normalised text, never across a sentence end."""
        return self._spans(folded.translate(_SENTENCE_TABLE))

    def _spans(self, prepared: str) -> Iterator[tuple[int, int]]:
        for match in self._compiled.finditer(prepared):
            start, end = match.span()
            if end > start:
                yield start, end


class RegexRuleSet:
    """The lexicon's rules; each runs only on text holding the characters it needs (see `required_characters`)."""

    def __init__(self, rules: Sequence[RegexRule]) -> None:
        self._rules = tuple(rules)

    def scan(self, folded: str) -> list[tuple[int, int, int]]:
        """(rule index, start, end) of every rule's matches in normalised text."""
        candidates = [(index, rule) for index, rule in enumerate(self._rules) if rule.may_match(folded)]
        if not candidates:
            return []
        prepared = folded.translate(_SENTENCE_TABLE)
        return [(index, s, e) for index, rule in candidates for s, e in rule._spans(prepared)]


def required_characters(pattern: str) -> tuple[frozenset[str], ...] | None:
    """Character sets that every match of `pattern` touches (one character of each), or None if unknown.

    `再.{0,4}不.{0,10}就.{0,4}(投诉|差评)` needs 再, 不, 就 and one of 投/差. Derived from the literals the
    pattern cannot do without; anything unclear (classes like \\d, case-insensitive flags, RE2-only syntax)
    gives up on that part, so the filter only ever skips text the rule could not match.
    """
    if _CASE_FLAG.search(pattern):
        return None
    try:
        parsed = _PARSER.parse(pattern)
    except Exception:  # noqa: BLE001 - RE2 syntax Python's parser does not know: no prefilter
        return None
    sets = _sequence(list(parsed))
    return tuple(sets) or None


def _sequence(items: list[tuple[Any, Any]]) -> list[frozenset[str]]:
    return [chars for op, arg in items if (chars := _element(str(op), arg)) is not None]


def _smallest(sets: list[frozenset[str]]) -> frozenset[str] | None:
    return min(sets, key=len) if sets else None


def _element(op: str, arg: Any) -> frozenset[str] | None:
    if op == "LITERAL":
        return frozenset(chr(arg))
    if op == "IN" and all(str(kind) == "LITERAL" for kind, _ in arg):
        return frozenset(chr(value) for _, value in arg)
    if op == "SUBPATTERN":
        return _smallest(_sequence(list(arg[-1])))
    if op == "BRANCH":
        alternatives = [_smallest(_sequence(list(branch))) for branch in arg[1]]
        if any(chars is None for chars in alternatives):
            return None
        return frozenset().union(*(chars for chars in alternatives if chars is not None))
    if op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and arg[0] >= 1:
        return _smallest(_sequence(list(arg[2])))
    return None
