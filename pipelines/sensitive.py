"""Sensitive-word (敏感词) detection: curated lexicon, allow-list, Aho-Corasick matching on normalised text.

Besides the listed spellings, every entry is also found through its evasions (pipelines/evasion.py): pinyin,
initials, homophones, spoken numerals, look-alike digits, split characters, and regex rules; each hit says which.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import ahocorasick_rs

from pipelines import evasion
from pipelines.evasion import VARIANTS, Variant, common_words
from pipelines.normalize import SENTENCE_BOUNDARIES, NormalizedText, Normalizer
from pipelines.sensitive_lexicon import (
    ALLOWLIST_FILE,
    LEXICON_SUBDIR,
    SCOPES,
    LexiconEntry,
    LexiconError,
    Scope,
    SensitiveLexicon,
    load_sensitive_lexicon,
)
from pipelines.sensitive_regex import RegexRuleSet
from pipelines.types import Finding, Severity, Speaker, Utterance

__all__ = [
    "ALLOWLIST_FILE",
    "LEXICON_SUBDIR",
    "SCOPES",
    "VARIANTS",
    "LexiconEntry",
    "LexiconError",
    "Scope",
    "SensitiveHit",
    "SensitiveLexicon",
    "SensitiveWordMatcher",
    "Variant",
    "load_sensitive_lexicon",
]

T = TypeVar("T")
Candidate = tuple[int, int, tuple[tuple[LexiconEntry, ...], Variant]]  # folded [start, end), entries, variant


@dataclass(frozen=True, slots=True)
class SensitiveHit:
    """One match; [start, end) indexes the text passed to `find`; `variant` says how it matched (exact, pinyin…)."""

    term: str
    category: str
    severity: Severity
    start: int
    end: int
    scope: Scope
    variant: Variant = "exact"


@dataclass(frozen=True, slots=True)
class _Pattern:
    """What one normalised pattern string stands for (indexed like the automaton's patterns)."""

    entries: tuple[LexiconEntry, ...]
    allow: bool
    ascii_start: bool  # pattern starts/ends with an ASCII letter or digit: needs a word boundary there
    ascii_end: bool


@dataclass(frozen=True, slots=True)
class _Sound:
    """What one phonetic pattern stands for: (entry, uses initials, typed in Latin letters) per entry."""

    forms: tuple[tuple[LexiconEntry, bool, bool], ...]


class SensitiveWordMatcher:
    """Finds lexicon terms and their evasions in text: Aho-Corasick passes over normalised text, longest wins."""

    def __init__(
        self, lexicon: SensitiveLexicon, *, normalizer: Normalizer | None = None, evasion: bool = True
    ) -> None:
        """Compile `lexicon`; `evasion=False` matches the listed spellings only (the evaluation's baseline)."""
        self._lexicon = lexicon
        self._evasion = evasion
        self._normalizer = normalizer if normalizer is not None else Normalizer()
        self._patterns, self._strings, self._automaton = self._build()
        self._spellings = {
            entry: frozenset(self._fold(s, entry.source) for s in (entry.term, *entry.variants))
            for entry in lexicon.entries
            if entry.regex is None
        }
        self._chars = {entry: frozenset("".join(spellings)) for entry, spellings in self._spellings.items()}
        self._sounds, self._sound_automaton = self._build_phonetic()
        if any(not form[2] for sound in self._sounds for form in sound.forms):
            common_words()  # read jieba's dictionary now (once per process), not on the first homophone
        self._numeral_patterns, self._numeral_automaton = self._build_numeral()
        self._rules = tuple(entry for entry in lexicon.entries if entry.regex is not None)
        self._rule_set = RegexRuleSet([entry.regex for entry in self._rules if entry.regex is not None])

    @property
    def version(self) -> str:
        """Version of the lexicon this matcher was built from."""
        return self._lexicon.version

    @property
    def lexicon(self) -> SensitiveLexicon:
        """The lexicon this matcher was built from."""
        return self._lexicon

    @property
    def normalizer(self) -> Normalizer:
        """The normaliser applied to both the lexicon and the text."""
        return self._normalizer

    def _fold(self, spelling: str, where: str) -> str:
        folded = self._normalizer.fold(spelling)
        if not folded or any(char in SENTENCE_BOUNDARIES for char in folded):
            raise LexiconError(f"{where}: {spelling!r} normalises to {folded!r}, which can never match")
        return folded

    def _build(self) -> tuple[tuple[_Pattern, ...], list[str], ahocorasick_rs.AhoCorasick]:
        by_pattern: dict[str, list[LexiconEntry]] = {}
        for entry in self._lexicon.entries:
            if entry.regex is not None:
                continue  # a rule's term is only its name
            for spelling in dict.fromkeys((entry.term, *entry.variants)):
                targets = by_pattern.setdefault(self._fold(spelling, entry.source), [])
                if entry not in targets:
                    targets.append(entry)
        allowed = {self._fold(phrase, ALLOWLIST_FILE) for phrase in self._lexicon.allowlist}
        strings = list(dict.fromkeys([*by_pattern, *sorted(allowed)]))
        patterns = tuple(
            _Pattern(
                entries=tuple(by_pattern.get(pattern, ())),
                allow=pattern in allowed,
                ascii_start=_is_ascii_word(pattern[0]),
                ascii_end=_is_ascii_word(pattern[-1]),
            )
            for pattern in strings
        )
        # Standard match kind with overlapping=True reports every occurrence, as a str.find loop would: scope,
        # allow-list and word boundaries must see all of them before the longest one is chosen, so the
        # library's own leftmost-longest mode would change results. The DFA is the fastest search for a
        # lexicon this size (hundreds of patterns, build in milliseconds).
        automaton = ahocorasick_rs.AhoCorasick(strings, implementation=ahocorasick_rs.Implementation.DFA)
        return patterns, strings, automaton

    def _build_phonetic(self) -> tuple[tuple[_Sound, ...], ahocorasick_rs.AhoCorasick | None]:
        # Short spellings sound like too many ordinary words (出生 for 畜生, 是时 for 食屎): by default initials
        # and homophones apply from three syllables on; an entry's `initials` / `homophones` overrides that.
        by_sound: dict[str, dict[int, tuple[bool, bool]]] = {}  # entries by position: hashing them is slow
        entries = list(self._spellings)
        for number, (entry, spellings) in enumerate(self._spellings.items()):
            for spelling in spellings:
                long = sum(map(evasion.is_cjk, spelling)) >= 3
                initials = entry.pinyin and (entry.initials if entry.initials is not None else long)
                homophones = entry.homophones if entry.homophones is not None else long
                for form in evasion.phonetic_forms(
                    spelling, pinyin=entry.pinyin, initials=initials, homophones=homophones
                ):
                    by_sound.setdefault(form.text, {}).setdefault(number, (form.initials, form.typed))
        if not by_sound:
            return (), None
        strings = list(by_sound)
        sounds = tuple(
            _Sound(tuple((entries[n], *flags) for n, flags in by_sound[s].items())) for s in strings
        )
        automaton = ahocorasick_rs.AhoCorasick(strings, implementation=ahocorasick_rs.Implementation.DFA)
        return sounds, automaton

    def _build_numeral(self) -> tuple[tuple[_Pattern, ...], ahocorasick_rs.AhoCorasick | None]:
        chosen = [(i, p) for i, p in enumerate(self._patterns) if p.entries and _has_digit(self._strings[i])]
        if not chosen:
            return (), None
        automaton = ahocorasick_rs.AhoCorasick([self._strings[i] for i, _ in chosen])
        return tuple(p for _, p in chosen), automaton

    def scan(self, folded: str) -> list[tuple[int, int, int]]:
        """Every (pattern index, start, end) occurrence in already normalised text; the matching step of `find`."""
        # Positional `overlapping`: this call runs once per utterance and keyword parsing is a tenth of its cost.
        return self._automaton.find_matches_as_indexes(folded, True)

    def find(self, text: str, *, speaker: Speaker) -> list[SensitiveHit]:
        """Hits in `text` said by `speaker`, ordered by position; offsets index `text` itself."""
        if not text:
            return []
        folded = self._normalizer.fold(text)
        memo: list[NormalizedText] = []

        def normalized() -> NormalizedText:  # the offset map is only built for text with a match in it
            if not memo:
                memo.append(self._normalizer(text))
            return memo[0]

        candidates: list[Candidate] = []
        allowed: list[tuple[int, int]] = []
        self._exact(folded, folded, normalized, "exact", candidates, allowed)
        if self._evasion:
            self._evasions(folded, normalized, candidates, allowed)
        if not candidates:
            return []
        kept = [
            (start, end, (entries, variant))
            for start, end, (all_entries, variant) in candidates
            if not any(a <= start and end <= b for a, b in allowed)
            # Scope filtering comes before overlap resolution, so an agent-only phrase said by the customer
            # cannot hide a shorter `any` term inside it.
            if (entries := tuple(e for e in all_entries if e.scope == "any" or e.scope == speaker))
        ]
        # A regex rule describes a sentence around words (再不退款我就打12315): it is reported beside the words
        # it contains, never instead of them, so the longest-match choice runs for words and rules apart.
        words = _longest_non_overlapping([hit for hit in kept if hit[2][1] != "regex"])
        rules = _longest_non_overlapping([hit for hit in kept if hit[2][1] == "regex"])
        hits: list[SensitiveHit] = []
        for start, end, (entries, variant) in sorted(words + rules, key=lambda hit: hit[:2]):
            original_start, original_end = normalized().to_original(start, end)
            hits.extend(
                SensitiveHit(
                    term=entry.term,
                    category=entry.category,
                    severity=entry.severity_for(speaker),
                    start=original_start,
                    end=original_end,
                    scope=entry.scope,
                    variant=variant,
                )
                for entry in entries
            )
        return hits

    def _evasions(
        self,
        folded: str,
        normalized: Callable[[], NormalizedText],
        candidates: list[Candidate],
        allowed: list[tuple[int, int]],
    ) -> None:
        """Every evasion pass; exact hits come first in `candidates`, so they win ties."""
        self._phonetic(folded, normalized, candidates)
        numeral = evasion.numeral_text(folded) if evasion.has_numeral_run(folded) else folded
        if numeral != folded and self._numeral_automaton is not None:
            for index, start, end in self._numeral_automaton.find_matches_as_indexes(numeral, True):
                payload = self._numeral_patterns[index]
                if numeral[start:end] != folded[start:end] and _at_word_boundaries(
                    numeral, normalized, start, end, payload
                ):
                    candidates.append((start, end, (payload.entries, "numeral")))
        for lookalike in evasion.lookalike_texts(folded):
            self._exact(lookalike, folded, normalized, "lookalike", candidates, allowed)
        self._split(folded, candidates)
        rules = self._rules
        candidates.extend((s, e, ((rules[i],), "regex")) for i, s, e in self._rule_set.scan(folded))

    def _exact(
        self,
        searched: str,
        folded: str,
        normalized: Callable[[], NormalizedText],
        variant: Variant,
        candidates: list[Candidate],
        allowed: list[tuple[int, int]],
    ) -> None:
        """Lexicon spellings in `searched` (the folded text, or a same-length rewrite of it for look-alikes)."""
        for index, start, end in self.scan(searched):
            payload = self._patterns[index]
            if payload.allow:
                allowed.append((start, end))
            if variant != "exact" and (searched[start:end] == folded[start:end] or end - start < 3):
                continue  # already found by the exact pass; a two-letter look-alike (5b) is a model number
            if payload.entries and _at_word_boundaries(searched, normalized, start, end, payload):
                candidates.append((start, end, (payload.entries, variant)))

    def _phonetic(self, folded: str, normalized: Callable[[], NormalizedText], out: list[Candidate]) -> None:
        """Pinyin, initials and homophone spellings: one scan over the text's sound."""
        if self._sound_automaton is None:
            return
        occurrences = self._sound_automaton.find_matches_as_indexes(evasion.to_phonetic(folded), True)
        if not occurrences:
            return
        phonetic = evasion.build_phonetic(folded)
        gap_before = normalized().gap_before

        def _split_by_gap(start: int, end: int) -> bool:
            return any(map(gap_before, range(start + 1, end)))

        for index, start, end in occurrences:
            if not (
                phonetic.at_unit_boundary(start, folded, gap_before)
                and phonetic.at_unit_boundary(end, folded, gap_before)
            ):
                continue
            f_start, f_end = phonetic.source[start], phonetic.source[end - 1] + 1
            span = folded[f_start:f_end]
            by_variant: dict[Variant, list[LexiconEntry]] = {}
            for entry, uses_initials, typed in self._sounds[index].forms:
                spellings = self._spellings[entry]
                if span in spellings:
                    continue  # the exact pass has it
                if typed:
                    # Characters beside typed pinyin must be the term's own (傻b, not 大M演 for 大麻烟).
                    if not all(char in self._chars[entry] for char in span if evasion.is_cjk(char)):
                        continue
                    variant: Variant = "initials" if uses_initials else "pinyin"
                elif (
                    _split_by_gap(f_start, f_end)
                    or not evasion.keeps_a_char(span, spellings)
                    or evasion.ordinary_words(span, self._chars[entry])
                ):
                    continue  # 出生 sounds like 畜生 but is an ordinary word; 哒，麻 are two words
                else:
                    variant = "homophone"
                by_variant.setdefault(variant, []).append(entry)
            out.extend((f_start, f_end, (tuple(e), v)) for v, e in by_variant.items())

    def _split(self, folded: str, out: list[Candidate]) -> None:
        """Characters written as two components (女马 → 妈) joined back, then the exact spellings."""
        joined = evasion.join_splits(folded)
        if joined is None:
            return
        text, source = joined
        for index, start, end in self.scan(text):
            payload = self._patterns[index]
            f_start = source[start]
            f_end = source[end] if end < len(source) else len(folded)
            if payload.entries and f_end - f_start != end - start:  # only hits that use a joined character
                out.append((f_start, f_end, (payload.entries, "split")))

    def findings(self, utterances: Sequence[Utterance]) -> list[Finding]:
        """Findings (kind sensitive_word) for every utterance; `detail` names the variant (variant=pinyin…)."""
        return [
            Finding(
                kind="sensitive_word",
                category=hit.category,
                severity=hit.severity,
                rule=f"lexicon:{hit.category}",
                term=hit.term,
                utterance_index=utterance.index,
                start=hit.start,
                end=hit.end,
                detail=f"variant={hit.variant}",
            )
            for utterance in utterances
            for hit in self.find(utterance.text, speaker=utterance.speaker)
        ]


def _is_ascii_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _has_digit(pattern: str) -> bool:
    return any(char.isascii() and char.isdigit() for char in pattern)


def _at_word_boundaries(
    text: str, normalized: Callable[[], NormalizedText], start: int, end: int, payload: _Pattern
) -> bool:
    """ASCII terms (sb, tmd, 12315) must not match inside a longer word or number (USB, 4001231500).

    `text` is the searched text (folded, or a same-length rewrite of it); a separator that normalisation
    removed (a space, "[数字x]"'s bracket) still counts as a boundary.
    """
    if payload.ascii_start and start > 0 and _is_ascii_word(text[start - 1]):
        if not normalized().gap_before(start):
            return False
    if payload.ascii_end and end < len(text) and _is_ascii_word(text[end]):
        if not normalized().gap_before(end):
            return False
    return True


def _longest_non_overlapping(candidates: list[tuple[int, int, T]]) -> list[tuple[int, int, T]]:
    """Keep the longest hit among overlapping ones (leftmost, then first found, on ties); return them in order."""
    # The chosen hits never overlap, so kept sorted by start they are sorted by end too: one bisection finds
    # the only two neighbours a candidate could collide with (text full of hits stays n log n, not n²).
    chosen: list[tuple[int, int, T]] = []
    starts: list[int] = []
    for candidate in sorted(candidates, key=lambda hit: (hit[0] - hit[1], hit[0])):
        start, end, _ = candidate
        at = bisect.bisect_right(starts, start)
        if at > 0 and chosen[at - 1][1] > start:
            continue
        if at < len(chosen) and chosen[at][0] < end:
            continue
        starts.insert(at, start)
        chosen.insert(at, candidate)
    return chosen
