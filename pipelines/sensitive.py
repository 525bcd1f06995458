"""Sensitive-word (敏感词) detection: curated lexicon, allow-list, Aho-Corasick matching on normalised text."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ahocorasick_rs
import yaml

from pipelines.normalize import SENTENCE_BOUNDARIES, NormalizedText, Normalizer
from pipelines.types import Finding, Severity, Speaker, Utterance

Scope = Literal["agent", "customer", "any"]
SCOPES: tuple[Scope, ...] = ("agent", "customer", "any")

LEXICON_SUBDIR = "sensitive"
ALLOWLIST_FILE = "allowlist.txt"
_ENTRY_KEYS = frozenset({"term", "severity", "scope", "variants", "agent_severity"})
_FILE_KEYS = frozenset({"category", "defaults", "terms"})

try:  # the C loader is ~10x faster, which keeps hot reloads cheap
    _YamlLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _YamlLoader = yaml.SafeLoader


class LexiconError(ValueError):
    """A lexicon file is malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One curated term: `term` is canonical (reported in findings), `variants` are other spellings of it."""

    term: str
    category: str
    severity: Severity
    scope: Scope
    variants: tuple[str, ...] = ()
    agent_severity: Severity | None = None  # stricter severity when the agent says it (辱骂)
    source: str = ""

    def severity_for(self, speaker: Speaker) -> Severity:
        """Severity of this entry when said by `speaker`."""
        if speaker == "agent" and self.agent_severity is not None:
            return self.agent_severity
        return self.severity


@dataclass(frozen=True, slots=True)
class SensitiveLexicon:
    """All sensitive-word entries and the allow-list; `version` is a short sha256 over the files' contents."""

    entries: tuple[LexiconEntry, ...]
    allowlist: tuple[str, ...]
    version: str
    files: tuple[str, ...] = ()

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories in file order."""
        return tuple(dict.fromkeys(entry.category for entry in self.entries))


@dataclass(frozen=True, slots=True)
class SensitiveHit:
    """One match; [start, end) indexes the text passed to `find`."""

    term: str
    category: str
    severity: Severity
    start: int
    end: int
    scope: Scope


def load_sensitive_lexicon(directory: Path) -> SensitiveLexicon:
    """Load `directory`/sensitive/*.yaml and `directory`/allowlist.txt (the repo's lexicons/ folder)."""
    category_dir = directory / LEXICON_SUBDIR
    if not category_dir.is_dir():
        raise LexiconError(f"{category_dir}: no sensitive-word lexicon folder")
    paths = sorted(category_dir.glob("*.yaml"))
    allow_path = directory / ALLOWLIST_FILE
    digest = hashlib.sha256()
    entries: list[LexiconEntry] = []
    for path in paths:
        raw = path.read_bytes()
        _update_digest(digest, f"{LEXICON_SUBDIR}/{path.name}", raw)
        entries.extend(_parse_category_file(path.name, raw))
    allowlist: tuple[str, ...] = ()
    if allow_path.is_file():
        raw = allow_path.read_bytes()
        _update_digest(digest, ALLOWLIST_FILE, raw)
        allowlist = _parse_allowlist(raw)
    files = tuple(f"{LEXICON_SUBDIR}/{path.name}" for path in paths) + (
        (ALLOWLIST_FILE,) if allowlist else ()
    )
    return SensitiveLexicon(
        entries=tuple(entries), allowlist=allowlist, version=digest.hexdigest()[:12], files=files
    )


def _update_digest(digest: Any, name: str, raw: bytes) -> None:
    # The name is hashed too, so renaming a category file changes the version.
    digest.update(name.encode() + b"\0" + raw + b"\0")


def _parse_allowlist(raw: bytes) -> tuple[str, ...]:
    lines = (line.split("#", 1)[0].strip() for line in raw.decode("utf-8").splitlines())
    return tuple(dict.fromkeys(line for line in lines if line))


def _parse_category_file(name: str, raw: bytes) -> list[LexiconEntry]:
    try:
        document = yaml.load(raw.decode("utf-8"), Loader=_YamlLoader)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise LexiconError(f"{name}: invalid YAML: {exc}") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("category"), str):
        raise LexiconError(f"{name}: expected a mapping with a `category` string")
    unknown = set(document) - _FILE_KEYS
    if unknown:
        raise LexiconError(f"{name}: unknown keys {sorted(unknown)}")
    category: str = document["category"]
    defaults = document.get("defaults") or {}
    terms = document.get("terms") or []
    if not isinstance(defaults, Mapping) or not isinstance(terms, list):
        raise LexiconError(f"{name}: `defaults` must be a mapping and `terms` a list")
    entries: list[LexiconEntry] = []
    seen: set[str] = set()
    for item in terms:
        fields: dict[str, Any] = {**defaults, **(item if isinstance(item, Mapping) else {"term": item})}
        entry = _make_entry(name, category, fields)
        for spelling in (entry.term, *entry.variants):
            if spelling in seen:
                raise LexiconError(f"{name}: {spelling!r} is listed twice")
            seen.add(spelling)
        entries.append(entry)
    return entries


def _make_entry(name: str, category: str, fields: dict[str, Any]) -> LexiconEntry:
    unknown = set(fields) - _ENTRY_KEYS
    if unknown:
        raise LexiconError(f"{name}: entry {fields.get('term')!r} has unknown keys {sorted(unknown)}")
    term = fields.get("term")
    if isinstance(term, int | float) and not isinstance(term, bool):
        term = str(term)  # an unquoted 12315 in YAML is an int
    if not isinstance(term, str) or not term.strip():
        raise LexiconError(f"{name}: entry without a term: {fields!r}")
    scope = str(fields.get("scope", "any"))
    if scope not in SCOPES:
        raise LexiconError(f"{name}: {term!r} has scope {scope!r}, expected one of {SCOPES}")
    variants = fields.get("variants") or []
    if not isinstance(variants, list):
        raise LexiconError(f"{name}: {term!r} variants must be a list")
    try:
        severity = Severity.parse(str(fields.get("severity", "一般")))
        agent_raw = fields.get("agent_severity")
        agent_severity = Severity.parse(str(agent_raw)) if agent_raw is not None else None
    except ValueError as exc:
        raise LexiconError(f"{name}: {term!r}: {exc}") from exc
    return LexiconEntry(
        term=term.strip(),
        category=category,
        severity=severity,
        scope=scope,
        variants=tuple(str(variant).strip() for variant in variants),
        agent_severity=agent_severity,
        source=name,
    )


@dataclass(frozen=True, slots=True)
class _Pattern:
    """What one normalised pattern string stands for (indexed like the automaton's patterns)."""

    entries: tuple[LexiconEntry, ...]
    allow: bool
    ascii_start: bool  # pattern starts/ends with an ASCII letter or digit: needs a word boundary there
    ascii_end: bool


def _is_ascii_word(char: str) -> bool:
    return char.isascii() and char.isalnum()


class SensitiveWordMatcher:
    """Finds lexicon terms in text: one Aho-Corasick pass over the normalised text, longest match wins."""

    def __init__(self, lexicon: SensitiveLexicon, *, normalizer: Normalizer | None = None) -> None:
        self._lexicon = lexicon
        self._normalizer = normalizer if normalizer is not None else Normalizer()
        self._patterns, self._automaton = self._build()

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

    def _build(self) -> tuple[tuple[_Pattern, ...], ahocorasick_rs.AhoCorasick]:
        by_pattern: dict[str, list[LexiconEntry]] = {}
        for entry in self._lexicon.entries:
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
        return patterns, automaton

    def scan(self, folded: str) -> list[tuple[int, int, int]]:
        """Every (pattern index, start, end) occurrence in already normalised text; the matching step of `find`."""
        # Positional `overlapping`: this call runs once per utterance and keyword parsing is a tenth of its cost.
        return self._automaton.find_matches_as_indexes(folded, True)

    def find(self, text: str, *, speaker: Speaker) -> list[SensitiveHit]:
        """Hits in `text` said by `speaker`, ordered by position; offsets index `text` itself."""
        if not text:
            return []
        occurrences = self.scan(self._normalizer.fold(text))
        if not occurrences:
            return []  # the common case: the offset map is only built for text with a match in it
        normalized = self._normalizer(text)
        candidates: list[tuple[int, int, tuple[LexiconEntry, ...]]] = []
        allowed: list[tuple[int, int]] = []
        patterns = self._patterns
        for index, start, end in occurrences:
            payload = patterns[index]
            if payload.allow:
                allowed.append((start, end))
            if not payload.entries or not self._at_word_boundaries(normalized, start, end, payload):
                continue
            # Scope filtering comes before overlap resolution, so an agent-only phrase said by the customer
            # cannot hide a shorter `any` term inside it.
            entries = tuple(e for e in payload.entries if e.scope == "any" or e.scope == speaker)
            if entries:
                candidates.append((start, end, entries))
        if allowed:
            candidates = [
                hit for hit in candidates if not any(a <= hit[0] and hit[1] <= b for a, b in allowed)
            ]
        hits: list[SensitiveHit] = []
        for start, end, entries in _longest_non_overlapping(candidates):
            original_start, original_end = normalized.to_original(start, end)
            hits.extend(
                SensitiveHit(
                    term=entry.term,
                    category=entry.category,
                    severity=entry.severity_for(speaker),
                    start=original_start,
                    end=original_end,
                    scope=entry.scope,
                )
                for entry in entries
            )
        return hits

    def findings(self, utterances: Sequence[Utterance]) -> list[Finding]:
        """Findings (kind sensitive_word) for every utterance, offsets into each utterance's text."""
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
            )
            for utterance in utterances
            for hit in self.find(utterance.text, speaker=utterance.speaker)
        ]

    @staticmethod
    def _at_word_boundaries(normalized: NormalizedText, start: int, end: int, payload: _Pattern) -> bool:
        # ASCII terms (sb, tmd, 12315) must not match inside a longer word or number (USB, 4001231500);
        # a separator that normalisation removed (a space, "[数字x]"'s bracket) still counts as a boundary.
        text = normalized.text
        if payload.ascii_start and start > 0 and _is_ascii_word(text[start - 1]):
            if not normalized.gap_before(start):
                return False
        if payload.ascii_end and end < len(text) and _is_ascii_word(text[end]):
            if not normalized.gap_before(end):
                return False
        return True


def _longest_non_overlapping(
    candidates: list[tuple[int, int, tuple[LexiconEntry, ...]]],
) -> list[tuple[int, int, tuple[LexiconEntry, ...]]]:
    """Keep the longest hit among overlapping ones (leftmost on ties); return them in text order."""
    # Chosen hits never overlap, so kept sorted by start their ends are sorted too: one bisection finds the
    # only neighbours a candidate could overlap (comparing with every chosen hit was quadratic in hits).
    starts: list[int] = []
    chosen: list[tuple[int, int, tuple[LexiconEntry, ...]]] = []
    for candidate in sorted(candidates, key=lambda hit: (hit[0] - hit[1], hit[0])):
        start, end, _ = candidate
        at = bisect.bisect_left(starts, start)
        if at < len(chosen) and chosen[at][0] < end:
            continue  # the next chosen hit starts inside this one
        if at > 0 and chosen[at - 1][1] > start:
            continue  # the previous chosen hit ends inside this one
        starts.insert(at, start)
        chosen.insert(at, candidate)
    return chosen
