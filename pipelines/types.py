"""Result types shared by every pipeline stage: frozen dataclasses, no behaviour beyond formatting."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

Speaker = Literal["agent", "customer", "unknown"]
Channel = Literal["phone", "chat"]
FindingKind = Literal["sensitive_word", "pii", "service_norm", "emotion", "abuse"]
EmotionLabel = Literal["neutral", "happy", "angry", "sad", "anxious", "surprised"]
EMOTION_LABELS: tuple[EmotionLabel, ...] = ("neutral", "happy", "angry", "sad", "anxious", "surprised")
NEGATIVE_EMOTIONS: frozenset[str] = frozenset({"angry", "sad", "anxious"})


class Severity(IntEnum):
    """Three-level severity of a quality problem (一般 / 重要 / 重大); NONE when nothing was found."""

    NONE = 0
    GENERAL = 1  # 一般
    IMPORTANT = 2  # 重要
    MAJOR = 3  # 重大

    @property
    def label(self) -> str:
        """API name: none | general | important | major."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Accept the API name or the Chinese name (一般/重要/重大)."""
        zh = {"无": cls.NONE, "一般": cls.GENERAL, "重要": cls.IMPORTANT, "重大": cls.MAJOR}
        if value in zh:
            return zh[value]
        try:
            return cls[value.upper()]
        except KeyError as exc:
            raise ValueError(f"unknown severity {value!r}") from exc


@dataclass(frozen=True, slots=True)
class WordTiming:
    """When one recognised word was spoken: [start, end) in its utterance's text, times in ms of the file.

    Carries no text, so it can travel with a masked utterance without carrying what the mask removed.
    """

    start: int
    end: int
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Utterance:
    """One turn of a conversation; `text` is whatever the stage received (masked once PII ran).

    `words` comes from ASR with word timestamps only (offsets into this `text`, before masking); stages
    that change the text drop it.
    """

    index: int
    speaker: Speaker
    text: str
    start_ms: int | None = None
    end_ms: int | None = None
    words: tuple[WordTiming, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as the pipeline sees it: channel plus ordered utterances."""

    channel: Channel
    utterances: tuple[Utterance, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One hit. Offsets are [start, end) into the stored (masked) text of utterance `utterance_index`."""

    kind: FindingKind
    category: str
    severity: Severity
    rule: str
    term: str | None = None
    utterance_index: int | None = None
    start: int | None = None
    end: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Keyword:
    """A keyword with its weight; `speaker` None means extracted over the whole conversation."""

    term: str
    weight: float
    speaker: Speaker | None = None


@dataclass(frozen=True, slots=True)
class ScoreItem:
    """One add/deduct line of the score breakdown."""

    rule: str
    dimension: str
    points: float
    reason: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Score:
    """100-point QA score with its breakdown; `fatal` means a 一票否决 item fired (total forced to 0)."""

    total: float
    items: tuple[ScoreItem, ...]
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class EmotionPrediction:
    """Emotion of one utterance: the top label, its probability, and the probability of every label."""

    label: EmotionLabel
    confidence: float
    probs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationEmotion:
    """Customer emotion over the conversation: dominant negative emotion, peak, and trajectory."""

    dominant_negative: EmotionLabel | None
    peak_label: EmotionLabel | None
    peak_confidence: float | None
    peak_utterance_index: int | None
    first_third_negativity: float | None
    last_third_negativity: float | None
    trajectory: Literal["escalated", "calmed", "stable", "unknown"]
    ends_angry: bool = False


@dataclass(frozen=True, slots=True)
class DrivingTurn:
    """A customer utterance and how much the conversation's dissatisfaction drops without it."""

    index: int
    weight: float


@dataclass(frozen=True, slots=True)
class Dissatisfaction:
    """P(the customer leaves dissatisfied) of a conversation and its driving customer turns, strongest first."""

    probability: float
    turns: tuple[DrivingTurn, ...]
    version: str = ""


@dataclass(frozen=True, slots=True)
class AuditResult:
    """Everything the audit produced for one conversation, ready to be stored."""

    utterances: tuple[Utterance, ...]  # masked text
    findings: tuple[Finding, ...]
    keywords: tuple[Keyword, ...]
    score: Score
    severity: Severity
    flagged: bool
    metrics: dict[str, float | int | None]
    emotions: tuple[EmotionPrediction | None, ...] = ()
    conversation_emotion: ConversationEmotion | None = None
    lexicon_version: str = ""
    rules_version: str = ""  # the rule set's own version (rules.yaml's sha, or a stored version's number)
    dissatisfaction: Dissatisfaction | None = None  # None: no emotion model, or the customer never spoke
