"""Process-wide runtime: the audit pipeline and ML models, loaded once and shared by requests and workers."""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from pipelines.abuse import AbuseScorer
from pipelines.audit import AuditPipeline, AuditStages, build_stages, with_rules
from pipelines.dissatisfaction import DissatisfactionModel
from pipelines.emotion import EmotionClassifier
from pipelines.emotion_batching import CoalescingEmotionClassifier
from pipelines.emotion_calibration import LengthTemperature
from pipelines.keywords import KeywordExtractor
from pipelines.rules import RuleSet, load_rules

EmotionBackend = Literal["onnx", "torch"]

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)


class ModelSetupError(RuntimeError):
    """A model the service needs is missing or corrupt; the message names the set-up command."""


@cache
def _keyword_extractor(lexicon_dir: Path) -> KeywordExtractor:
    # jieba's dictionary takes about a second to load: once per process, not per reload of the other lexicons.
    return KeywordExtractor(
        userdict=lexicon_dir / "jieba_userdict.txt", stopwords=lexicon_dir / "stopwords.txt"
    )


class EmotionModelKey(NamedTuple):
    """What selects the emotion encoder a process serves (hashable: the cache key of the loaders below)."""

    model_root: Path
    threads: int
    batch_size: int
    backend: EmotionBackend = "onnx"
    int8: bool = False
    distilled: bool = False


@cache
def _emotion_classifier(key: EmotionModelKey) -> EmotionClassifier:
    from models.emotion.loader import load_emotion_classifier
    from models.emotion.setup import ModelAssetError

    try:
        classifier = load_emotion_classifier(
            key.model_root,
            num_threads=key.threads,
            batch_size=key.batch_size,
            backend=key.backend,
            quantize=key.int8,
            distilled=key.distilled,
        )
    except ModelAssetError as exc:  # the message names the set-up command
        raise ModelSetupError(str(exc)) from exc
    # Concurrent requests share model calls (pipelines/emotion_batching.py) instead of each taking both cores.
    return CoalescingEmotionClassifier(classifier)


@cache
def _abuse_classifier(key: EmotionModelKey) -> AbuseScorer:
    from models.abuse.loader import base_model_sha256, load_abuse_classifier
    from models.emotion.setup import ModelAssetError

    emotion = _emotion_classifier(key)
    try:
        return load_abuse_classifier(
            emotion_layers=getattr(emotion, "layers", ()), base_model_sha256=base_model_sha256(key.model_root)
        )
    except ModelAssetError as exc:
        raise ModelSetupError(str(exc)) from exc


@cache
def _dissatisfaction_model() -> DissatisfactionModel:
    from models.dissatisfaction.loader import load_dissatisfaction_model
    from models.emotion.setup import ModelAssetError

    try:
        return load_dissatisfaction_model()
    except ModelAssetError as exc:
        raise ModelSetupError(str(exc)) from exc


@cache
def _emotion_calibration() -> LengthTemperature:
    from models.emotion.loader import load_emotion_calibration
    from models.emotion.setup import ModelAssetError

    try:
        return load_emotion_calibration()
    except ModelAssetError as exc:
        raise ModelSetupError(str(exc)) from exc


class AuditRuntime:
    """Holds the current pipeline; a lexicon reload builds new stages and swaps them in one assignment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self.emotion: EmotionClassifier | None = None
        self.abuse: AbuseScorer | None = None
        self.dissatisfaction: DissatisfactionModel | None = None
        self.calibration: LengthTemperature | None = None
        if settings.emotion_enabled:
            from models.emotion.onnx_encoder import use_int8

            key = EmotionModelKey(
                settings.model_dir / "e5-small",
                settings.torch_threads,
                settings.emotion_batch_size,
                settings.emotion_backend,
                use_int8(settings.emotion_int8, settings.emotion_backend),
                settings.emotion_encoder == "distilled",
            )
            self.emotion = _emotion_classifier(key)
            if settings.abuse_enabled:
                # Loaded next to emotion: its head reads the emotion encoder's pooled features.
                self.abuse = _abuse_classifier(key)
            # Conversation-level dissatisfaction (issue 11): reads the same encoder pass; a small linear model.
            self.dissatisfaction = _dissatisfaction_model()
            # What a stored emotion confidence means (issue 11): rescaled so that 0.8 is right ~80 % of the time.
            self.calibration = _emotion_calibration()
        stages = build_stages(
            settings.lexicon_dir, keyword_extractor=_keyword_extractor(settings.lexicon_dir)
        )
        self._pipeline = self._new_pipeline(stages)
        # A stored rules version in force instead of lexicons/rules.yaml (app.rules); a lexicon reload keeps it.
        self._rules_override: RuleSet | None = None
        self.rules_version_id: uuid.UUID | None = None  # the stored version in force; None: the file
        # Called (at most every `_watch_seconds`) when an audit asks for the pipeline: app.rules.sync checks
        # there whether another process applied a new rules version.
        self._watch: Callable[[], None] | None = None
        self._watch_seconds = 0.0
        self._next_watch = 0.0
        # The models and jieba's dictionary live as long as the process: moved out of the collector's view,
        # a text with many findings no longer makes each collection rescan them (measured up to 2x its cost).
        gc.freeze()

    def _new_pipeline(self, stages: AuditStages) -> AuditPipeline:
        return AuditPipeline(
            stages,
            emotion=self.emotion,
            abuse=self.abuse,
            dissatisfaction=self.dissatisfaction,
            calibration=self.calibration,
        )

    @property
    def pipeline(self) -> AuditPipeline:
        """The pipeline in force now (requests keep the one they started with)."""
        if self._watch is not None and time.monotonic() >= self._next_watch:
            self._next_watch = time.monotonic() + self._watch_seconds
            try:
                self._watch()
            except Exception as exc:  # the rules in force stay; the next check tries again
                log.warning("could not check for a new rules version: %s", type(exc).__name__)
        return self._pipeline

    def watch(self, check: Callable[[], None], *, every_seconds: float) -> None:
        """Run `check` when the pipeline is asked for, at most every `every_seconds` (0: every time)."""
        self._watch_seconds = every_seconds
        self._next_watch = time.monotonic() + every_seconds
        self._watch = check

    @property
    def current_pipeline(self) -> AuditPipeline:
        """The pipeline in force, without a check for a new rules version (for the check itself)."""
        return self._pipeline

    def apply_rules(self, rules: RuleSet | None, *, version_id: uuid.UUID | None = None) -> str:
        """Swap in a stored rules version, or with None lexicons/rules.yaml again; returns the audit version.

        Parsed and validated before this call; the swap is one assignment, as on a lexicon reload.
        """
        with self._lock:
            in_force = rules if rules is not None else load_rules(self.settings.lexicon_dir / "rules.yaml")
            stages = with_rules(self._pipeline.stages, in_force)
            self._rules_override = rules
            self.rules_version_id = version_id if rules is not None else None
            self._pipeline = self._new_pipeline(stages)
            log.info("rules %s in force: version %s", in_force.version, stages.version)
            return stages.version

    @property
    def lexicon_version(self) -> str:
        """Version of the lexicons in force."""
        return self._pipeline.stages.version

    def model_versions(self) -> dict[str, str | None]:
        """Versions of the models in use, for /v1/health and the audit trail."""
        return {
            "emotion": self.emotion.version if self.emotion is not None else None,
            "abuse": self.abuse.version if self.abuse is not None else None,
            "dissatisfaction": self.dissatisfaction.version if self.dissatisfaction is not None else None,
            "emotion_calibration": self.calibration.version if self.calibration is not None else None,
            # The model's name, never its path on disk.
            "whisper": self.settings.whisper_model_dir.name if self.settings.whisper_model_dir else None,
        }

    def reload_lexicons(self) -> str:
        """Re-read the lexicon directory without a restart; a broken file leaves the old lexicons in force."""
        with self._lock:
            stages: AuditStages = build_stages(
                self.settings.lexicon_dir, keyword_extractor=_keyword_extractor(self.settings.lexicon_dir)
            )
            if self._rules_override is not None:  # a stored rules version stays in force over the file
                stages = with_rules(stages, self._rules_override)
            self._pipeline = self._new_pipeline(stages)
            log.info("lexicons reloaded: version %s", stages.version)
            return stages.version
