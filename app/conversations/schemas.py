"""API models for conversations (separate from the ORM tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.appeals.schemas import AppealRead
from app.conversations.enums import ConversationStatus
from app.schemas_common import DATETIME_RULE, LocalDatetime, OffsetMs, Page, SafeStr, SafeText

MAX_UTTERANCES = 2000
MAX_TEXT_CHARS = 5000
MAX_BATCH = 100

SeverityName = Literal["none", "general", "important", "major"]
ReviewStatus = Literal["unreviewed", "reviewed", "dismissed"]


class UtteranceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: Literal["agent", "customer"]
    text: SafeText = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    start_ms: OffsetMs | None = Field(
        default=None, description="milliseconds from the start of the conversation"
    )
    end_ms: OffsetMs | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        return value

    @model_validator(mode="after")
    def _ordered_times(self) -> UtteranceIn:
        if self.start_ms is not None and self.end_ms is not None and self.end_ms < self.start_ms:
            raise ValueError("end_ms is before start_ms")
        return self


class ConversationCreate(BaseModel):
    """A transcript posted by the QA system."""

    model_config = ConfigDict(extra="forbid")

    external_id: SafeStr = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    channel: Literal["phone", "chat"]
    agent_id: SafeStr = Field(min_length=1, max_length=100)
    customer_id: SafeStr | None = Field(default=None, max_length=100)
    started_at: LocalDatetime
    utterances: list[UtteranceIn] = Field(min_length=1, max_length=MAX_UTTERANCES)


class UtteranceRead(BaseModel):
    index: int
    speaker: str
    text: str
    start_ms: int | None
    end_ms: int | None
    emotion: str | None = None
    emotion_confidence: float | None = None
    emotion_probs: dict[str, float] | None = None


class RedactionRead(BaseModel):
    """A stretch of the recording silenced because it spoke personal data (times in ms from the start)."""

    start_ms: int
    end_ms: int
    kind: str
    speaker: str
    channel: int


class FindingRead(BaseModel):
    id: uuid.UUID = Field(description="what an appeal names (`finding_id`)")
    kind: str
    category: str
    term: str | None
    severity: SeverityName
    utterance_index: int | None
    start: int | None
    end: int | None
    rule: str
    detail: str | None
    lexicon_version: str | None
    rules_version: str | None = None
    # Set when an appeal overturned it: shown, but it no longer counts in the score, severity or flag.
    overturned_at: datetime | None = None
    # Times of the utterance the finding is in, so a reviewer can jump to it in the recording.
    start_ms: int | None = None
    end_ms: int | None = None


class KeywordRead(BaseModel):
    term: str
    weight: float
    speaker: str | None


class ReviewRead(BaseModel):
    status: str
    note: str | None
    reviewer: str
    created_at: datetime


class EmotionSummary(BaseModel):
    dominant_negative: str | None
    peak_label: str | None
    peak_confidence: float | None
    peak_utterance_index: int | None
    first_third_negativity: float | None
    last_third_negativity: float | None
    trajectory: str
    ends_angry: bool


class ConversationSummary(BaseModel):
    """A row of a list or search result."""

    id: uuid.UUID
    external_id: str
    source: str
    channel: str
    agent_id: str
    customer_id: str | None
    started_at: datetime
    created_at: datetime
    status: ConversationStatus
    score: float | None
    severity: SeverityName
    flagged: bool
    review_status: ReviewStatus
    customer_emotion: str | None
    emotion_trajectory: str | None
    dissatisfaction: float | None = Field(
        default=None,
        description="不满意度: probability (0-1) the customer leaves dissatisfied; null: not scored",
    )


class DissatisfactionTurnRead(BaseModel):
    """A customer utterance driving the conversation's dissatisfaction: how much it drops without it."""

    index: int
    weight: float


class ConversationRead(ConversationSummary):
    """Everything a reviewer needs to see why a conversation was flagged."""

    analysis_error: str | None
    analysed_at: datetime | None
    lexicon_version: str | None
    score_breakdown: dict[str, Any] | None
    metrics: dict[str, Any] | None
    emotion: EmotionSummary | None
    dissatisfaction_turns: list[DissatisfactionTurnRead] = []
    utterances: list[UtteranceRead]
    findings: list[FindingRead]
    keywords: list[KeywordRead]
    reviews: list[ReviewRead]
    job_id: uuid.UUID | None = None
    audio_available: bool = False
    redactions: list[RedactionRead] = []
    # Appeals against its findings with their decisions (issue 10), for the roles that may read them.
    appeals: list[AppealRead] = []


class BatchItemResult(BaseModel):
    index: int
    status: Literal["created", "existing", "error"]
    id: uuid.UUID | None = None
    external_id: str | None = None
    flagged: bool | None = None
    error: dict[str, Any] | None = None


class BatchResult(BaseModel):
    created: int
    existing: int
    failed: int
    results: list[BatchItemResult]


class ConversationBatch(BaseModel):
    """Up to MAX_BATCH conversations; each is validated on its own so one bad item loses nothing else."""

    model_config = ConfigDict(extra="forbid")

    conversations: list[dict[str, Any]] = Field(min_length=1)


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["reviewed", "dismissed"]
    note: SafeText | None = Field(default=None, max_length=5000)


class ConversationPage(Page[ConversationSummary]):
    """A page of a conversation search; the total is counted exactly only up to a cap."""

    total_exact: bool = Field(
        default=True,
        description="false when more conversations match than are counted: `total` is then a lower bound",
    )


class ConversationSearch(BaseModel):
    """Query of `GET /v1/conversations`: every filter is optional; one that needs another says so (422)."""

    # A misspelt filter (`agentid=a1`) would otherwise be ignored and return everything.
    model_config = ConfigDict(extra="forbid")

    flagged: bool | None = None
    review_status: ReviewStatus | None = None
    status: ConversationStatus | None = None
    severity_min: SeverityName | None = None
    keyword: SafeStr | None = Field(default=None, max_length=100, description="a keyword extracted by jieba")
    q: SafeStr | None = Field(default=None, min_length=1, max_length=100, description="substring of the text")
    category: SafeStr | None = Field(default=None, max_length=64, description="finding category")
    kind: Literal["sensitive_word", "pii", "service_norm", "emotion", "abuse"] | None = None
    term: SafeStr | None = Field(default=None, max_length=200, description="the matched term of a finding")
    agent_id: SafeStr | None = Field(default=None, max_length=100)
    channel: Literal["phone", "chat"] | None = None
    since: LocalDatetime | None = Field(default=None, description="started at or after; " + DATETIME_RULE)
    until: LocalDatetime | None = Field(default=None, description="started before; " + DATETIME_RULE)
    score_min: float | None = Field(default=None, ge=0, le=100)
    score_max: float | None = Field(default=None, ge=0, le=100)
    emotion: Literal["neutral", "happy", "angry", "sad", "anxious", "surprised"] | None = Field(
        default=None, description="some utterance has this emotion"
    )
    speaker: Literal["agent", "customer", "unknown"] | None = Field(
        default=None, description="whose utterance `emotion` / `min_confidence` refer to; needs one of them"
    )
    min_confidence: float | None = Field(
        default=None, ge=0, le=1, description="some utterance's emotion (or `emotion`) is at least this sure"
    )
    trajectory: Literal["escalated", "calmed", "stable", "unknown"] | None = None
    dissatisfaction_min: float | None = Field(
        default=None, ge=0, le=1, description="不满意度 (conversation dissatisfaction) at least this"
    )
    sort: Literal["severity", "dissatisfaction"] = Field(
        default="severity",
        description="severity: most severe then newest first; dissatisfaction: most dissatisfied first "
        "(only conversations the model scored)",
    )
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page, as returned")
    limit: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _consistent(self) -> ConversationSearch:
        if self.speaker is not None and self.emotion is None and self.min_confidence is None:
            raise ValueError(
                "`speaker` qualifies an emotion filter: give `emotion` or `min_confidence` with it"
            )
        if self.score_min is not None and self.score_max is not None and self.score_min > self.score_max:
            raise ValueError("`score_min` is above `score_max`")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("`since` must be before `until`")
        return self
