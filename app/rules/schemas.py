"""API models for rule versions and the rule dry-run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.conversations.schemas import ConversationCreate, SeverityName
from app.schemas_common import DATETIME_RULE, LocalDatetime, SafeStr, SafeText

MAX_PATCH_KEYS = 20
MAX_LEXICON_CHANGES = 200
MAX_EXAMPLES = 10


class RuleVersionCreate(BaseModel):
    """A new rules YAML (the whole of lexicons/rules.yaml's format): validated, stored and applied at once."""

    model_config = ConfigDict(extra="forbid")

    yaml: SafeText = Field(min_length=1, description="the full rules YAML")
    note: SafeText | None = Field(default=None, max_length=2000)


class RuleVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: int
    sha256: str
    created_by: str
    created_at: datetime
    note: str | None
    active: bool
    yaml: str = Field(validation_alias="yaml_text")


class RuleVersionList(BaseModel):
    """Stored versions, newest first, and what is in force in this process."""

    active_version: int | None = Field(description="the stored version in force; null: lexicons/rules.yaml")
    rules_version: str = Field(description="what findings record as `rules_version` now")
    items: list[RuleVersionRead]


class LexiconEntryIn(BaseModel):
    """A candidate sensitive-word entry, in a category file's format plus its category."""

    model_config = ConfigDict(extra="forbid")

    category: SafeStr = Field(min_length=1, max_length=64)
    term: SafeStr = Field(min_length=1, max_length=200)
    severity: SafeStr | None = Field(default=None, max_length=16)
    scope: Literal["agent", "customer", "any"] | None = None
    variants: list[SafeStr] | None = Field(default=None, max_length=50)
    agent_severity: SafeStr | None = Field(default=None, max_length=16)
    pinyin: bool | None = None
    initials: bool | None = None
    homophones: bool | None = None
    regex: SafeStr | None = Field(default=None, max_length=500)


class LexiconTermRef(BaseModel):
    """A sensitive-word entry to take out, by its category and canonical term."""

    model_config = ConfigDict(extra="forbid")

    category: SafeStr = Field(min_length=1, max_length=64)
    term: SafeStr = Field(min_length=1, max_length=200)


class RuleTestRequest(BaseModel):
    """A candidate change and the conversations to try it on; nothing is stored.

    The change: `rules_yaml` (a whole rules YAML) or `rules_patch` (dotted paths of the rules in force set to
    new values, null removes: `{"norms.refusal.phrases": [...], "flag.score_below": 50}`), and/or candidate
    sensitive-word entries (`lexicon_entries` add or replace by category and term, `lexicon_remove`).
    The input: `transcripts` (as posted to /v1/conversations) or stored conversations started in
    [`since`, `until`), newest first, at most `limit`.
    """

    model_config = ConfigDict(extra="forbid")

    rules_yaml: SafeText | None = Field(default=None, min_length=1)
    rules_patch: dict[str, Any] | None = Field(default=None, min_length=1, max_length=MAX_PATCH_KEYS)
    lexicon_entries: list[LexiconEntryIn] | None = Field(default=None, max_length=MAX_LEXICON_CHANGES)
    lexicon_remove: list[LexiconTermRef] | None = Field(default=None, max_length=MAX_LEXICON_CHANGES)
    transcripts: list[ConversationCreate] | None = Field(default=None, min_length=1)
    since: LocalDatetime | None = Field(default=None, description="stored conversations; " + DATETIME_RULE)
    until: LocalDatetime | None = Field(default=None, description="stored conversations; " + DATETIME_RULE)
    limit: int = Field(default=50, ge=1, description="at most this many stored conversations")
    examples: int = Field(default=3, ge=0, le=MAX_EXAMPLES, description="examples per rule and change")

    @model_validator(mode="after")
    def _consistent(self) -> RuleTestRequest:
        if self.rules_yaml is not None and self.rules_patch is not None:
            raise ValueError("give `rules_yaml` or `rules_patch`, not both")
        if (
            self.rules_yaml is None
            and self.rules_patch is None
            and not self.lexicon_entries
            and not (self.lexicon_remove)
        ):
            raise ValueError(
                "nothing to test: give `rules_yaml`, `rules_patch`, `lexicon_entries` or `lexicon_remove`"
            )
        period = self.since is not None or self.until is not None
        if (self.transcripts is not None) == period:
            raise ValueError("give either `transcripts` or a stored period (`since` and/or `until`)")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self


class ConversationRef(BaseModel):
    """Which conversation: its place in the input, and its id when it is a stored one."""

    index: int
    conversation_id: uuid.UUID | None = None
    external_id: str


class FindingChange(BaseModel):
    change: Literal["gained", "lost"]
    conversation: ConversationRef
    utterance_index: int | None
    utterance: str | None = Field(description="the (masked) utterance, cut at 200 characters")
    term: str | None
    start: int | None
    end: int | None
    severity: SeverityName


class RuleChange(BaseModel):
    """Findings one rule (or sensitive-word category) gains and loses under the candidate."""

    kind: str
    rule: str
    category: str
    gained: int
    lost: int
    conversations: int = Field(description="conversations where this rule's findings changed")
    examples: list[FindingChange]


class FlagChange(BaseModel):
    change: Literal["newly_flagged", "unflagged"]
    conversation: ConversationRef
    score_before: float
    score_after: float
    severity_before: SeverityName
    severity_after: SeverityName


class RuleTestResult(BaseModel):
    """What the candidate would change against the rules and lexicons in force, on the same input."""

    conversations: int
    truncated: bool = Field(
        description="the period held more conversations or utterances than one test takes"
    )
    current: dict[str, str] = Field(description="rules_version and lexicon_version in force")
    candidate: dict[str, str]
    findings_gained: int
    findings_lost: int
    newly_flagged: int
    unflagged: int
    rules: list[RuleChange]
    flag_changes: list[FlagChange]
