"""Sensitive-word lexicon files: category YAML (terms, variants, evasion switches, regex rules) and allow-list."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pipelines.sensitive_regex import RegexRule, RegexRuleError
from pipelines.types import Severity, Speaker

Scope = Literal["agent", "customer", "any"]
SCOPES: tuple[Scope, ...] = ("agent", "customer", "any")

LEXICON_SUBDIR = "sensitive"
ALLOWLIST_FILE = "allowlist.txt"
_ENTRY_KEYS = frozenset(
    {"term", "severity", "scope", "variants", "agent_severity", "pinyin", "initials", "homophones", "regex"}
)
_SWITCHES = ("pinyin", "initials", "homophones")
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
    pinyin: bool = True  # also matches its pinyin written in Latin letters (shabi, 傻bi)
    initials: bool | None = None  # pinyin initials (sb, 傻b); None: only for terms of three or more syllables
    homophones: bool | None = None  # characters that sound the same (煞笔); None: terms of 3+ syllables
    regex: RegexRule | None = None  # matches this RE2 pattern instead of its spellings; `term` names the rule

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


def parse_category_file(name: str, raw: bytes) -> list[LexiconEntry]:
    """The entries of one category file's text, validated as a file on disk is (candidate entries under test)."""
    return _parse_category_file(name, raw)


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
    switches = {key: fields[key] for key in _SWITCHES if fields.get(key) is not None}
    if any(not isinstance(value, bool) for value in switches.values()):
        raise LexiconError(f"{name}: {term!r}: {', '.join(_SWITCHES)} must be true or false")
    regex = _compile_regex(name, term, fields.get("regex"), variants)
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
        regex=regex,
        **switches,
    )


def _compile_regex(name: str, term: str, pattern: object, variants: list[Any]) -> RegexRule | None:
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise LexiconError(f"{name}: {term!r}: regex must be a string")
    if variants:
        raise LexiconError(f"{name}: {term!r}: a regex rule takes no variants (put them in the pattern)")
    try:
        return RegexRule(pattern)
    except RegexRuleError as exc:
        raise LexiconError(f"{name}: {term!r}: {exc}") from exc
